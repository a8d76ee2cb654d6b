// The outbox's journal, STATE_DIR/outbox.jsonl: one JSON line per event in a copy's life
// (queued, failed, sent, cancelled, dead), and the live entries those lines add up to.
//
// Why a JSON Lines journal rather than one file per message: a queued copy costs one append
// + one fsync (a file per message needs write + fsync + rename + directory fsync, and an
// unlink later), the whole history can be read with `cat`, and dead letters stay visible in
// the same place. The journal is compacted when it is opened (and when it has grown and
// nothing is pending) by writing only the live entries to a temporary file, fsync, rename.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { OutgoingMail } from "./smtp";
import { JsonlAppender } from "../shared/jsonl";
import { writeFileDurably } from "../shared/state-files";

export const OUTBOX_FILE = "outbox.jsonl";
/** Records appended since the last compaction before the journal is rewritten. */
const COMPACT_AFTER_RECORDS = 5000;

export interface OutboxEntry {
  id: string;
  ticket: string;
  mail: OutgoingMail;
  queuedAt: string;
  attempts: number;
  lastError?: string;
  /** set when the SMTP server refused the copy permanently: kept, never retried */
  dead?: { at: string; reason: string };
  /** waiting for the person's mail to be accepted; only ever true inside the process that queued it */
  held?: boolean;
}

export type JournalRecord =
  | { op: "queued"; id: string; ticket: string; mail: OutgoingMail; at: string; attempts?: number; lastError?: string }
  | { op: "failed"; id: string; at: string; reason: string }
  | { op: "sent"; id: string; at: string; response?: string }
  | { op: "cancelled"; id: string; at: string }
  | { op: "dead"; id: string; at: string; reason: string };

export interface OutboxLog {
  info(line: string): void;
  /** loud: dead letters and damaged journal lines */
  error(line: string): void;
}

export class OutboxJournal {
  private recordsSinceCompact = 0;
  private syncing: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;

  /**
   * Reads DIR/outbox.jsonl (damaged lines are set aside in a file of their own and reported),
   * compacts it and opens it for appending. Throws on a disk error.
   */
  static open(dir: string, log: OutboxLog, now: () => Date = () => new Date()): OutboxJournal {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, OUTBOX_FILE);
    const entries = new Map<string, OutboxEntry>();
    const damaged = readRecords(path, (rec) => applyRecord(entries, rec));
    if (damaged.length) {
      const name = `outbox.damaged.${now().getTime()}.jsonl`;
      writeFileDurably(dir, name, damaged.join("\n") + "\n");
      log.error(`outbox: ${damaged.length} damaged line(s) in ${path} could not be read; they were kept in ${join(dir, name)} — look at them by hand`);
    }
    writeFileDurably(dir, OUTBOX_FILE, liveLines(entries));
    return new OutboxJournal(dir, path, entries, new JsonlAppender(path));
  }

  /**
   * @param entries the live copies, as the records so far leave them (the Outbox sets `held`
   *   and reads the rest)
   */
  private constructor(
    private readonly dir: string,
    readonly path: string,
    readonly entries: Map<string, OutboxEntry>,
    private appender: JsonlAppender,
  ) {}

  /** Writes one record and applies it to `entries`; `durable` fsyncs it before returning. */
  append(rec: JournalRecord, durable: boolean): void {
    this.appender.write([rec]);
    if (durable) this.appender.syncNow();
    this.recordsSinceCompact++;
    applyRecord(this.entries, rec);
  }

  /**
   * Group commit: resolves once everything written before the call is on disk. One
   * fdatasync (on libuv's thread pool, off the event loop) covers every line written before
   * it started; callers arriving while one runs share the next.
   */
  flushed(): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.appender.sync().finally(() => {
        this.syncing = null;
      });
      return this.syncing;
    }
    this.nextSync ??= this.syncing
      .catch(() => {})
      .then(() => {
        this.nextSync = null;
        return this.flushed();
      });
    return this.nextSync;
  }

  /** Rewrites the file with only the live entries once it has grown, unless a sync is running. */
  compactIfGrown(): void {
    if (this.recordsSinceCompact < COMPACT_AFTER_RECORDS || this.syncing || this.nextSync) return;
    this.appender.close();
    writeFileDurably(this.dir, OUTBOX_FILE, liveLines(this.entries));
    this.recordsSinceCompact = 0;
    this.appender = new JsonlAppender(this.path);
  }

  /** Waits for the syncs in flight, then closes the file. */
  async close(): Promise<void> {
    await (this.nextSync ?? this.syncing)?.catch(() => {});
    this.appender.close();
  }
}

/** Feeds every readable record to `apply`; returns the damaged lines. */
function readRecords(path: string, apply: (rec: JournalRecord) => void): string[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n");
  const damaged: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let rec: JournalRecord;
    try {
      rec = JSON.parse(line) as JournalRecord;
    } catch {
      // The last line may be torn by a crash mid-append; that append was never acknowledged.
      if (i !== lines.length - 1) damaged.push(line);
      return;
    }
    apply(rec);
  });
  return damaged;
}

function applyRecord(entries: Map<string, OutboxEntry>, rec: JournalRecord): void {
  const e = entries.get(rec.id);
  switch (rec.op) {
    case "queued":
      entries.set(rec.id, { id: rec.id, ticket: rec.ticket, mail: rec.mail, queuedAt: rec.at, attempts: rec.attempts ?? 0, lastError: rec.lastError });
      break;
    case "failed":
      if (e) {
        e.attempts++;
        e.lastError = rec.reason;
      }
      break;
    case "sent":
    case "cancelled":
      entries.delete(rec.id);
      break;
    case "dead":
      if (e) e.dead = { at: rec.at, reason: rec.reason };
      break;
  }
}

/** The journal that describes exactly the live entries (pending and dead). */
function liveLines(entries: Map<string, OutboxEntry>): string {
  const lines: string[] = [];
  for (const e of entries.values()) {
    lines.push(JSON.stringify({ op: "queued", id: e.id, ticket: e.ticket, mail: e.mail, at: e.queuedAt, attempts: e.attempts, ...(e.lastError ? { lastError: e.lastError } : {}) }));
    if (e.dead) lines.push(JSON.stringify({ op: "dead", id: e.id, at: e.dead.at, reason: e.dead.reason }));
  }
  return lines.map((l) => l + "\n").join("");
}
