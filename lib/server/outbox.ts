// Durable outbox for the admin's copies. Why a JSON Lines journal (STATE_DIR/outbox.jsonl)
// rather than one file per message: a queued copy costs one append + one fsync (a file per
// message needs write + fsync + rename + directory fsync, and an unlink later), the whole
// history can be read with `cat`, and dead letters stay visible in the same place. The journal
// is compacted on start-up (and when it has grown and nothing is pending) by writing only the
// live entries to a temporary file, fsync, rename.
//
// Every copy is written here (fsync'd) BEFORE the person's own mail is sent, "held" until that
// send succeeds (then released for delivery) or fails (then cancelled). So a crash at any
// moment leaves it queued: after a restart a held copy is delivered, because the person's mail
// may have been accepted just before the crash. A "sent" record ends it. Delivery is exactly once while the process
// lives (one attempt in flight per entry, never two); only a crash between the SMTP server's
// "250" and the "sent" record can send it again — with the same Message-ID and Date, so the
// duplicate is recognisable.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { MailSender, OutgoingMail } from "./smtp";
import { JsonlAppender } from "../shared/jsonl";
import { writeFileDurably } from "../shared/state-files";

export const OUTBOX_FILE = "outbox.jsonl";

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

type JournalRecord =
  | { op: "queued"; id: string; ticket: string; mail: OutgoingMail; at: string; attempts?: number; lastError?: string }
  | { op: "failed"; id: string; at: string; reason: string }
  | { op: "sent"; id: string; at: string; response?: string }
  | { op: "cancelled"; id: string; at: string }
  | { op: "dead"; id: string; at: string; reason: string };

export type DeliveryOutcome = "sent" | "queued" | "dead";

export interface OutboxLog {
  info(line: string): void;
  /** loud: dead letters and damaged journal lines */
  error(line: string): void;
}

export class Outbox {
  readonly path: string;
  private readonly entries = new Map<string, OutboxEntry>();
  private readonly inFlight = new Map<string, Promise<DeliveryOutcome>>();
  private journal: JsonlAppender;
  private recordsSinceCompact = 0;
  private seq = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private syncing: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;
  private retrying: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly sender: MailSender,
    private readonly log: OutboxLog,
    private readonly now: () => Date = () => new Date(),
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, OUTBOX_FILE);
    this.load();
    this.compact();
    this.journal = new JsonlAppender(this.path);
  }

  /** Copies waiting for a retry (not dead, not held). */
  get pending(): OutboxEntry[] {
    return [...this.entries.values()].filter((e) => !e.dead && !e.held);
  }

  get deadLetters(): OutboxEntry[] {
    return [...this.entries.values()].filter((e) => e.dead);
  }

  private load(): void {
    if (!existsSync(this.path)) return;
    const lines = readFileSync(this.path, "utf8").split("\n");
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
      this.apply(rec);
    });
    if (damaged.length) {
      const keep = join(this.dir, `outbox.damaged.${this.now().getTime()}.jsonl`);
      writeFileDurably(this.dir, keep.slice(this.dir.length + 1), damaged.join("\n") + "\n");
      this.log.error(`outbox: ${damaged.length} damaged line(s) in ${this.path} could not be read; they were kept in ${keep} — look at them by hand`);
    }
  }

  private apply(rec: JournalRecord): void {
    switch (rec.op) {
      case "queued":
        this.entries.set(rec.id, { id: rec.id, ticket: rec.ticket, mail: rec.mail, queuedAt: rec.at, attempts: rec.attempts ?? 0, lastError: rec.lastError });
        break;
      case "failed": {
        const e = this.entries.get(rec.id);
        if (e) {
          e.attempts++;
          e.lastError = rec.reason;
        }
        break;
      }
      case "sent":
      case "cancelled":
        this.entries.delete(rec.id);
        break;
      case "dead": {
        const e = this.entries.get(rec.id);
        if (e) e.dead = { at: rec.at, reason: rec.reason };
        break;
      }
    }
  }

  /** Rewrites the journal with only the live entries (pending and dead). */
  private compact(): void {
    const lines: string[] = [];
    for (const e of this.entries.values()) {
      lines.push(JSON.stringify({ op: "queued", id: e.id, ticket: e.ticket, mail: e.mail, at: e.queuedAt, attempts: e.attempts, ...(e.lastError ? { lastError: e.lastError } : {}) }));
      if (e.dead) lines.push(JSON.stringify({ op: "dead", id: e.id, at: e.dead.at, reason: e.dead.reason }));
    }
    writeFileDurably(this.dir, OUTBOX_FILE, lines.map((l) => l + "\n").join(""));
    this.recordsSinceCompact = 0;
  }

  private append(rec: JournalRecord, durable: boolean): void {
    this.journal.write([rec]);
    if (durable) this.journal.syncNow();
    this.recordsSinceCompact++;
    this.apply(rec);
  }

  /**
   * Queues a copy durably: resolves once its line is fsync'd; rejects on a disk error (and
   * then the copy is not queued). A `held` copy is not delivered by this process until
   * `release` (see the top of the file).
   */
  async enqueue(ticket: string, mail: OutgoingMail, opts: { held?: boolean } = {}): Promise<string> {
    const at = this.now().toISOString();
    const id = `${ticket}-${process.pid.toString(36)}${(++this.seq).toString(36)}`;
    // Message-ID and Date fixed now, so every attempt sends the same message.
    const fixed: OutgoingMail = { ...mail, messageId: mail.messageId ?? `<ticket-${ticket}.${id}@mailer>`, date: mail.date ?? at };
    this.append({ op: "queued", id, ticket, mail: fixed, at }, false);
    if (opts.held) this.entries.get(id)!.held = true;
    try {
      await this.flushed();
    } catch (err) {
      this.entries.delete(id);
      try {
        this.append({ op: "cancelled", id, at }, false);
      } catch {} // the disk is failing anyway; a restart may then deliver it: never lose, at worst tell twice
      throw err;
    }
    return id;
  }

  /**
   * Group commit: resolves once everything written before the call is on disk. One
   * fdatasync (on libuv's thread pool, off the event loop) covers every line written before
   * it started; callers arriving while one runs share the next. Under load, 50 concurrent
   * tickets cost one or two syncs instead of 50 in a row on the event loop.
   */
  private flushed(): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.journal.sync().finally(() => {
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

  /** The person's mail was accepted: the held copy may now be delivered. */
  release(id: string): void {
    const entry = this.entries.get(id);
    if (entry) entry.held = false;
  }

  /** The person's mail was refused: the held copy must never go out. */
  cancel(id: string): void {
    // Not fsync'd: should the OS itself crash first, the copy is delivered after the restart,
    // which tells the admin of a request that failed — never loses one that succeeded.
    this.append({ op: "cancelled", id, at: this.now().toISOString() }, false);
  }

  /** Attempts one entry now (or joins the attempt already in flight). */
  deliver(id: string): Promise<DeliveryOutcome> {
    const running = this.inFlight.get(id);
    if (running) return running;
    const entry = this.entries.get(id);
    if (!entry) return Promise.resolve("sent");
    if (entry.dead) return Promise.resolve("dead");
    if (entry.held) return Promise.resolve("queued");
    const attempt = this.attempt(entry).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, attempt);
    return attempt;
  }

  private async attempt(entry: OutboxEntry): Promise<DeliveryOutcome> {
    const result = await this.sender.send(entry.mail);
    const at = this.now().toISOString();
    try {
      if (result.ok) {
        // Not fsync'd: a process crash keeps it (page cache); only losing the OS itself could
        // cause one duplicate, with the same Message-ID.
        this.append({ op: "sent", id: entry.id, at, response: result.response }, false);
        this.maybeCompact();
        return "sent";
      }
      if (result.permanent) {
        this.append({ op: "dead", id: entry.id, at, reason: result.reason }, true);
        this.log.error(
          `DEAD LETTER: the admin copy of ticket ${entry.ticket} (to ${entry.mail.to}) was refused permanently: ${result.reason} — ` +
            `it is kept in ${this.path} and will not be retried`,
        );
        return "dead";
      }
      this.append({ op: "failed", id: entry.id, at, reason: result.reason }, false);
      return "queued";
    } catch (err) {
      this.log.error(`outbox: cannot write to ${this.path}: ${(err as Error).message}`);
      return result.ok ? "sent" : "queued";
    }
  }

  private maybeCompact(): void {
    if (this.recordsSinceCompact < 5000 || this.inFlight.size > 1 || this.pending.length > 0 || this.syncing || this.nextSync) return;
    this.journal.close();
    this.compact();
    this.journal = new JsonlAppender(this.path);
  }

  /** Retries every pending copy not already in flight, a few at a time. */
  retryAll(concurrency = 4): Promise<void> {
    if (this.retrying) return this.retrying;
    const run = async () => {
      const queue = this.pending.filter((e) => !this.inFlight.has(e.id));
      if (queue.length === 0) return;
      let sent = 0;
      let dead = 0;
      let lastError = "";
      const worker = async () => {
        for (let e = queue.shift(); e; e = queue.shift()) {
          const outcome = await this.deliver(e.id);
          if (outcome === "sent") sent++;
          else if (outcome === "dead") dead++;
          else lastError = this.entries.get(e.id)?.lastError ?? lastError;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      const left = this.pending.length;
      this.log.info(`outbox: retried queued admin copies: ${sent} sent, ${dead} dead, ${left} still queued${left && lastError ? ` (last error: ${lastError})` : ""}`);
    };
    this.retrying = run().finally(() => (this.retrying = null));
    return this.retrying;
  }

  /** Retries now and then every `seconds`. */
  start(seconds: number): void {
    void this.retryAll();
    this.timer = setInterval(() => void this.retryAll(), seconds * 1000);
    this.timer.unref?.();
  }

  /** Stops the timer and waits for attempts in flight; then the journal is closed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.retrying;
    await Promise.all(this.inFlight.values());
    await (this.nextSync ?? this.syncing)?.catch(() => {});
    this.journal.close();
  }
}
