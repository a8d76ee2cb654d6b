// The two collector logs and their index in the store. The logs are the user's record, JSON
// Lines appended first; the store's index (UIDVALIDITY, UID, digest, which log, byte offset)
// says what they hold, so that start-up never reads a log whole: it reads only what lies past
// the offset indexed last (what a kill -9 left between an append and its commit), and the
// questions "is this UID logged?" and "was this source logged before?" are index lookups.
import { closeSync, readSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Classified } from "./classify";
import { localError } from "./group-commit";
import type { LogDirOwnership } from "./ownership";
import { JsonlAppender } from "../shared/jsonl";
import { openReadNoFollow } from "../shared/safe-fs";
import type { CheckpointRecord, CollectorStore, LoggedMessage, LogState } from "../store/types";

export const SUCCESS_LOG = "success_request.log";
export const ERROR_LOG = "error_request.log";
/** index rows per store commit while reconciling a log at start-up */
const RECONCILE_ROWS = 20_000;
const READ_CHUNK = 1 << 20;

type Which = "success" | "error";

interface OpenLog {
  appender: JsonlAppender;
  state: LogState;
}

export class CollectorLog {
  private logs: Record<Which, OpenLog> | null = null;
  /** written to the logs, not yet in the index */
  private unindexed: LoggedMessage[] = [];
  /** lines that are not entries of ours (hand edits, a line cut by a crash): counted, skipped */
  badLines = 0;

  /** @param owner the collector's hold on LOG_DIR: every append checks it, every index write
   *  is fenced by its lease */
  constructor(
    readonly logDir: string,
    private readonly store: CollectorStore,
    private readonly owner: Pick<LogDirOwnership, "lease" | "assertHeld">,
    /** collectors sharing PostgreSQL: the logs are registered under the mailbox's scope (the same
     *  on every host), and every entry's line goes to the database, which is the record */
    private readonly shared: { scope: string } | null = null,
  ) {}

  private get lease(): { name: string; token: number } {
    return this.owner.lease;
  }

  get successPath(): string {
    return join(this.logDir, SUCCESS_LOG);
  }
  get errorPath(): string {
    return join(this.logDir, ERROR_LOG);
  }

  /** Opens both logs for append (never through a symlink) and indexes what lies past the
   *  indexed offset of each. Throws on a symlink (MailerError "state") or an fs error. */
  async open(): Promise<void> {
    const dir = this.shared?.scope ?? resolve(this.logDir);
    const success = new JsonlAppender(this.successPath);
    const error = new JsonlAppender(this.errorPath);
    for (const a of [success, error]) a.endTornLine(lastByte(a.path, a.size));
    const [s, e] = await this.store.openLogs([
      { name: "success", dir, dev: success.dev, ino: success.ino, size: success.size },
      { name: "error", dir, dev: error.dev, ino: error.ino, size: error.size },
    ]);
    this.logs = { success: { appender: success, state: s! }, error: { appender: error, state: e! } };
    for (const log of Object.values(this.logs)) await this.reconcile(log);
  }

  get logIds(): number[] {
    const l = this.opened();
    return [l.success.state.id, l.error.state.id];
  }

  /** Both logs hold no entry at all (and this collector wrote none yet): nothing in them can be
   *  a message logged before under another UIDVALIDITY. The index follows the files (a log cut
   *  shorter or replaced is indexed afresh at open), so empty files mean an empty index. Not for
   *  collectors sharing PostgreSQL, whose record is the database. */
  holdsNothing(): boolean {
    const l = this.opened();
    return !this.shared && this.unindexed.length === 0 && l.success.appender.size === 0 && l.error.appender.size === 0;
  }

  /** Of these UIDs, the ones the logs hold under this UIDVALIDITY. */
  logged(uidValidity: number, uids: number[]): Promise<Set<number>> {
    return this.store.loggedUids(this.logIds, uidValidity, uids);
  }

  maxUid(uidValidity: number): Promise<number> {
    return this.store.maxLoggedUid(this.logIds, uidValidity);
  }

  /** How often each of these sources was logged under a UIDVALIDITY other than this one. */
  digestsOutside(uidValidity: number, digests: string[]): Promise<Map<string, number>> {
    return this.store.digestCounts(this.logIds, uidValidity, digests);
  }

  /** Appends in the given order, success entries then error entries, without waiting for the
   *  disk: the entries count as logged from now on (a kill -9 keeps them), but only `commit`
   *  makes them durable and indexed. */
  write(items: Classified[]): void {
    const logs = this.opened();
    this.owner.assertHeld();
    for (const which of ["success", "error"] as const) {
      const entries = items.filter((i) => i.log === which).map((i) => i.entry);
      const { appender, state } = logs[which];
      const offsets = appender.write(entries);
      entries.forEach((e, i) =>
        this.unindexed.push({ logId: state.id, uidValidity: e.uidValidity, uid: e.uid, sha256: e.sha256, offset: offsets[i]!, ...(this.shared ? { line: JSON.stringify(e) } : {}) }),
      );
    }
  }

  /** Group commit: fdatasyncs both logs (off the event loop), then indexes exactly what was
   *  written before the sync began, with the checkpoint, in one store transaction. */
  async commit(checkpoint?: CheckpointRecord): Promise<void> {
    const logs = this.opened();
    const logged = this.unindexed;
    this.unindexed = [];
    const offsets = new Map([logs.success, logs.error].map((l) => [l.state.id, l.appender.size]));
    try {
      await Promise.all([logs.success.appender.sync(), logs.error.appender.sync()]);
    } catch (err) {
      throw localError(err, `write the log in ${this.logDir}`, "LOG_DIR");
    }
    try {
      await this.store.commit({ lease: this.lease, logged, offsets, checkpoint });
    } catch (err) {
      throw localError(err, "write the collector's state", "STATE_DIR");
    }
  }

  close(): void {
    if (!this.logs) return;
    this.logs.success.appender.close();
    this.logs.error.appender.close();
    this.logs = null;
  }

  private opened(): Record<Which, OpenLog> {
    if (!this.logs) throw new Error("CollectorLog.open() first");
    return this.logs;
  }

  /** Indexes the lines between the indexed offset and the end, a chunk of rows at a time. */
  private async reconcile({ appender, state }: OpenLog): Promise<void> {
    if (state.offset >= appender.size) return;
    let rows: LoggedMessage[] = [];
    for (const { line, offset, end } of readLines(appender.path, state.offset, appender.size)) {
      const entry = parseEntry(line);
      if (entry) rows.push({ logId: state.id, ...entry, offset });
      else if (line.trim()) this.badLines++;
      if (rows.length >= RECONCILE_ROWS) {
        await this.store.commit({ lease: this.lease, logged: rows, offsets: new Map([[state.id, end]]) });
        rows = [];
      }
    }
    await this.store.commit({ lease: this.lease, logged: rows, offsets: new Map([[state.id, appender.size]]) });
  }
}

function parseEntry(line: string): Omit<LoggedMessage, "logId" | "offset"> | null {
  let e: { uidValidity?: unknown; uid?: unknown; sha256?: unknown } | null = null;
  try {
    e = JSON.parse(line);
  } catch {}
  if (!e || !Number.isInteger(e.uidValidity) || !Number.isInteger(e.uid)) return null;
  return { uidValidity: e.uidValidity as number, uid: e.uid as number, sha256: typeof e.sha256 === "string" ? e.sha256 : null };
}

/** The lines of PATH between byte `from` and `to`, each with the offset it starts at and the
 *  offset after it; memory bounded by one chunk plus the longest line. */
function* readLines(path: string, from: number, to: number): Generator<{ line: string; offset: number; end: number }> {
  const fd = openReadNoFollow(path);
  try {
    const buf = Buffer.alloc(READ_CHUNK);
    let carry = Buffer.alloc(0);
    let carryAt = from;
    for (let pos = from; pos < to; ) {
      const n = readSync(fd, buf, 0, Math.min(READ_CHUNK, to - pos), pos);
      if (n === 0) break;
      pos += n;
      const data = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, start)) {
        yield { line: data.toString("utf8", start, nl), offset: carryAt + start, end: carryAt + nl + 1 };
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      carryAt += start;
    }
  } finally {
    closeSync(fd);
  }
}

function lastByte(path: string, size: number): number | null {
  if (size === 0) return null;
  const fd = openReadNoFollow(path);
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0]!;
  } finally {
    closeSync(fd);
  }
}
