// A STATE_DIR's store in tests: what it holds (the report `bun run state --json` prints), a hand
// on it from the side, and the state a collector program opens.
import { Database } from "bun:sqlite";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Collector, type CollectorOptions } from "../../lib/collector/collector";
import { CollectorLog } from "../../lib/collector/log";
import { ParsePool } from "../../lib/collector/parse-pool";
import { checkpointKey } from "../../lib/store/keys";
import { takeLogDir } from "../../lib/collector/ownership";
import { openStore } from "../../lib/store";
import { gatherReport, type StateReport } from "../../lib/store/report";

export async function readState(stateDir: string, logDir = `${stateDir}/logs`): Promise<StateReport> {
  const store = await openStore({ stateDir, logDir });
  try {
    return await gatherReport(store);
  } finally {
    await store.close();
  }
}

/** A consistent copy of the store's database (as a crash would leave an older state). */
export function snapshotStore(stateDir: string): string {
  const to = join(stateDir, `snapshot-${Date.now()}-${Math.random()}.db`);
  const db = new Database(join(stateDir, "mailer.db"));
  db.run(`VACUUM INTO '${to}'`);
  db.close();
  return to;
}

/** Puts a snapshot back in place of the database (every process on it must be closed); the
 *  leases it holds belonged to the process that "crashed", so they are free. */
export function restoreStore(stateDir: string, snapshot: string): void {
  for (const suffix of ["-wal", "-shm"]) rmSync(join(stateDir, `mailer.db${suffix}`), { force: true });
  copyFileSync(snapshot, join(stateDir, "mailer.db"));
  sql(stateDir, "UPDATE leases SET expires_ms = 0");
}

/** Runs SQL on a STATE_DIR's database from the side (a test's hand on the store). */
export function sql(stateDir: string, statement: string): void {
  const db = new Database(join(stateDir, "mailer.db"));
  db.run(statement);
  db.close();
}

/** What a collector program opens: the store, LOG_DIR taken, the logs reconciled. */
export async function openCollectorState(logDir: string, stateDir: string) {
  const store = await openStore({ stateDir, logDir });
  const owner = await takeLogDir(store, logDir, stateDir);
  const log = new CollectorLog(logDir, store.collector, owner);
  await log.open();
  return {
    store,
    log,
    async close() {
      log.close();
      await owner.release();
      await store.close();
    },
  };
}

export const TEST_ACCOUNT = "admin@mailer.test@127.0.0.1:1143/INBOX";

/** A Collector over LOG_DIR/STATE_DIR as the program wires it; `close` stops it (pool, logs, lease, store). */
export async function testCollector(logDir: string, stateDir: string, options: Partial<CollectorOptions> & { account?: string } = {}, pool = new ParsePool()) {
  const state = await openCollectorState(logDir, stateDir);
  const { account = TEST_ACCOUNT, ...rest } = options;
  const key = checkpointKey(account, logDir);
  const collector = new Collector({ key, mailboxName: "INBOX", store: state.store.collector, tickets: state.store.tickets, log: state.log, pool, out: () => {}, ...rest });
  let closed = false;
  return {
    collector,
    store: state.store,
    log: state.log,
    checkpoint: () => state.store.collector.readCheckpoint(key),
    async close() {
      if (closed) return;
      closed = true;
      pool.close();
      await state.close();
    },
  };
}
