// Opening the PostgreSQL store (STATE_DATABASE_URL): one database shared by every server and
// collector, on any number of machines. Opening connects, checks the login and the rights, and
// brings the schema up to date once — under a transaction-level advisory lock, so processes that
// start together migrate one after the other and all but the first find nothing to do.
import type { SQL } from "bun";
import { MailerError } from "../../shared/errors";
import type { Store } from "../types";
import { newClient, pgTarget, startupError } from "./connect";
import { PgCollector } from "./collector";
import { PgLeases } from "./leases";
import { PgRates } from "./rates";
import { MIGRATION_LOCK, PG_MIGRATIONS } from "./schema";
import { PgTickets } from "./tickets";

export interface PgStoreOptions {
  url: string;
  /** connections in the query pool (default 10) */
  max?: number;
  /** for pg_stat_activity: "mailer-server", "mailer-collector" */
  application?: string;
}

export async function openPostgresStore(o: PgStoreOptions): Promise<Store> {
  const target = pgTarget(o.url, { max: o.max, application: o.application });
  const sql = newClient(target);
  let id: string;
  try {
    id = await migrate(sql, target.display);
  } catch (err) {
    await sql.close().catch(() => {});
    throw startupError(err, target.display);
  }
  // lock sessions are reserved from a client of their own: they never shrink the query pool
  const locks = newClient(target, { max: 4, idleTimeout: 0 });
  const where = `PostgreSQL database ${target.display}`;
  const tickets = new PgTickets(sql, where, id);
  const leases = new PgLeases(sql, locks, where);
  return {
    description: where,
    id,
    tickets,
    collector: new PgCollector(sql, where),
    leases,
    rates: new PgRates(sql, where),
    notices: [],
    close: async () => {
      tickets.close();
      await leases.closeAll();
      await Promise.all([locks.close({ timeout: 5 }), sql.close({ timeout: 5 })]);
    },
  };
}

/** Applies the missing migrations in one transaction; resolves to the store's id. */
async function migrate(sql: SQL, display: string): Promise<string> {
  return sql.begin(async (tx) => {
    await tx.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, what text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const [row] = (await tx.unsafe(`SELECT coalesce(max(version), 0) AS v FROM schema_migrations`)) as { v: number }[];
    const version = Number(row!.v);
    if (version > PG_MIGRATIONS.length) {
      throw new MailerError("state", `the database ${display} was set up by a newer version of Mailer (schema ${version}; this one knows ${PG_MIGRATIONS.length}) — run that version`);
    }
    for (const m of PG_MIGRATIONS.slice(version)) {
      await tx.unsafe(m.sql);
      await tx.unsafe(`INSERT INTO schema_migrations (version, what) VALUES ($1, $2)`, [m.version, m.what]);
    }
    await tx.unsafe(`INSERT INTO meta (key, value) VALUES ('store_id', $1) ON CONFLICT (key) DO NOTHING`, [crypto.randomUUID()]);
    const [idRow] = (await tx.unsafe(`SELECT value FROM meta WHERE key = 'store_id'`)) as { value: string }[];
    return idRow!.value;
  });
}
