// Opening the store a program runs on. One engine today: SQLite, one database file in
// STATE_DIR (lib/store/sqlite/). Another engine plugs in here behind the same Store interface.
import type { OpenStoreOptions, Store } from "./types";

export type { OpenStoreOptions, Store } from "./types";

/** Opens the store (creating and migrating it, importing an old STATE_DIR once). Throws MailerError "state". */
export async function openStore(o: OpenStoreOptions): Promise<Store> {
  const { openSqliteStore } = await import("./sqlite/store");
  return openSqliteStore(o);
}
