// Collectors on several hosts sharing one PostgreSQL store (STATE_DATABASE_URL): exactly one
// works a mailbox at a time. The lease is per mailbox (not per LOG_DIR, which every host has
// its own of); the others are standbys that wait and take over when the holder's session ends
// (kill -9, or a host gone silent: the database's TCP keepalives end its session in ~25 s).
//
// In this mode the database is the record: every entry's line is committed there with the
// checkpoint, and each host's LOG_DIR is a copy. A collector that takes the mailbox rebuilds its
// LOG_DIR completely from the database first (lines its predecessor appended but never committed
// are fetched again and logged once), then appends as usual. `bun run state --rebuild-logs DIR`
// does the same by hand.
import { closeSync, existsSync, fsyncSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../shared/config";
import { MailerError } from "../shared/errors";
import { createExclusive, ensurePrivateDir } from "../shared/safe-fs";
import { currentHolder, describeHolder } from "../store/holder";
import type { Store } from "../store/types";
import { ERROR_LOG, SUCCESS_LOG } from "./log";
import { claimMarker, holdLease, LEASE_TTL_MS, type LogDirOwnership } from "./ownership";
import { openRemote } from "./remote";

/** How often a standby asks for the lease. */
const STANDBY_POLL_MS = 1000;

/** login@host:port/INBOX (pop3:… over POP3): the mailbox a collector with this configuration works. */
export function mailboxAccount(config: Config): string {
  return openRemote(config, undefined, null).account;
}

/** The store's name for a mailbox's logs and checkpoint, the same on every host. */
export function mailboxScope(account: string): string {
  return `mailbox ${account}`;
}

/** Waits until this collector holds the mailbox, saying once that it stands by (a standby has
 *  nothing in hand: a stop signal simply ends the process). Without `wait` (--once), refuses
 *  at once with MailerError "state" naming the holder. */
export async function waitForMailbox(store: Store, account: string, logDir: string, stateDir: string, out: (line: string) => void, wait = true): Promise<LogDirOwnership> {
  ensurePrivateDir(logDir, "LOG_DIR");
  claimMarker(store.id, logDir, stateDir);
  const name = `collector ${mailboxScope(account)}`;
  let told = false;
  for (;;) {
    const started = Date.now();
    const taken = await store.leases.take(name, currentHolder(), LEASE_TTL_MS, () => false);
    if (taken.ok) {
      if (told) out(`taking over ${account}: the collector that held it is gone`);
      return holdLease(store, taken.lease.token, name, started, account);
    }
    if (!wait) {
      throw new MailerError("state", `${account} is collected by ${describeHolder(taken.holder)} — a --once check would log alongside it; run it when that collector is stopped`);
    }
    if (!told) {
      told = true;
      out(`standby: ${account} is collected by ${describeHolder(taken.holder)}; this collector takes over when that one stops`);
    }
    await Bun.sleep(STANDBY_POLL_MS);
  }
}

/** Rewrites both logs of LOG_DIR from the database's record of `scope`, each whole or not at all
 *  (a temp file renamed into place). A log that was longer than its rebuilt copy (it held lines
 *  never committed, or another mailbox's) is kept aside as NAME.replaced-TIME. Resolves to the
 *  number of entries written. */
export async function rebuildLogs(store: Store, scope: string, logDir: string): Promise<number> {
  const records = store.collector.records;
  if (!records) throw new MailerError("usage", `${store.description} does not keep the collector's entries: only the PostgreSQL store (STATE_DATABASE_URL) does`);
  ensurePrivateDir(logDir, "LOG_DIR");
  const files = { success: join(logDir, SUCCESS_LOG), error: join(logDir, ERROR_LOG) };
  const tmp = { success: `${files.success}.rebuild-${process.pid}`, error: `${files.error}.rebuild-${process.pid}` };
  const fds = { success: createExclusive(tmp.success), error: createExclusive(tmp.error) };
  const sizes = { success: 0, error: 0 };
  let n = 0;
  try {
    for await (const r of records.call(store.collector, scope)) {
      const which = r.name === "error" ? "error" : "success";
      const bytes = Buffer.from(r.line + "\n", "utf8");
      for (let at = 0; at < bytes.length; ) at += writeSync(fds[which], bytes, at);
      sizes[which] += bytes.length;
      n++;
    }
    for (const fd of Object.values(fds)) fsyncSync(fd);
  } finally {
    for (const fd of Object.values(fds)) closeSync(fd);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  for (const which of ["success", "error"] as const) {
    const path = files[which];
    if (existsSync(path) && statSync(path).size > sizes[which]) renameSync(path, `${path}.replaced-${stamp}`);
    renameSync(tmp[which], path);
  }
  return n;
}
