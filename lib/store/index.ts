// Opening the store a program runs on: SQLite, one database file in STATE_DIR
// (lib/store/sqlite/), or — when STATE_DATABASE_URL is set — PostgreSQL, shared by servers and
// collectors on several machines (lib/store/postgres/). Both behind the same Store interface.
import type { OpenStoreOptions, Store } from "./types";

export type { OpenStoreOptions, Store } from "./types";

/** Opens the store (creating and migrating it, importing an old STATE_DIR once). Throws
 *  MailerError: "state"/"config"/"auth" (exit 2) or "unreachable" (exit 3, PostgreSQL). */
export async function openStore(o: OpenStoreOptions): Promise<Store> {
  if (o.databaseUrl) {
    const { openPostgresStore } = await import("./postgres/store");
    return openPostgresStore({ url: o.databaseUrl, application: o.application });
  }
  const { openSqliteStore } = await import("./sqlite/store");
  return openSqliteStore(o);
}
