// Durable outbox for the admin's copies: the delivery policy on top of the journal
// (outbox-journal.ts) — when a copy may go out, one attempt at a time, retries, dead letters.
//
// Every copy is written to the journal (fsync'd) BEFORE the person's own mail is sent, "held"
// until that send succeeds (then released for delivery) or fails (then cancelled). So a crash
// at any moment leaves it queued: after a restart a held copy is delivered, because the
// person's mail may have been accepted just before the crash. A "sent" record ends it.
// Delivery is exactly once while the process lives (one attempt in flight per entry, never
// two); the process ending (kill -9, crash) between the SMTP server taking the whole copy and
// the "sent" record, or a timed-out transaction the server did commit, can send it again —
// with the same Message-ID and Date (README "Duplicate admin copies").
import type { MailSender, OutgoingMail } from "./smtp";
import { OutboxJournal, type OutboxEntry, type OutboxLog } from "./outbox-journal";

export { OUTBOX_FILE, type OutboxEntry, type OutboxLog } from "./outbox-journal";

export type DeliveryOutcome = "sent" | "queued" | "dead";

export class Outbox {
  private readonly inFlight = new Map<string, Promise<DeliveryOutcome>>();
  private seq = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private retrying: Promise<void> | null = null;

  /** Opens (reads and compacts) the journal in `dir`; throws on a disk error. */
  static open(dir: string, sender: MailSender, log: OutboxLog, now: () => Date = () => new Date()): Outbox {
    return new Outbox(OutboxJournal.open(dir, log, now), sender, log, now);
  }

  constructor(
    private readonly journal: OutboxJournal,
    private readonly sender: MailSender,
    private readonly log: OutboxLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get path(): string {
    return this.journal.path;
  }

  /** Copies waiting for a retry (not dead, not held). */
  get pending(): OutboxEntry[] {
    return [...this.journal.entries.values()].filter((e) => !e.dead && !e.held);
  }

  get deadLetters(): OutboxEntry[] {
    return [...this.journal.entries.values()].filter((e) => e.dead);
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
    this.journal.append({ op: "queued", id, ticket, mail: fixed, at }, false);
    if (opts.held) this.journal.entries.get(id)!.held = true;
    try {
      await this.journal.flushed();
    } catch (err) {
      this.journal.entries.delete(id);
      try {
        this.journal.append({ op: "cancelled", id, at }, false);
      } catch {} // the disk is failing anyway; a restart may then deliver it: never lose, at worst tell twice
      throw err;
    }
    return id;
  }

  /** The person's mail was accepted: the held copy may now be delivered. */
  release(id: string): void {
    const entry = this.journal.entries.get(id);
    if (entry) entry.held = false;
  }

  /** The person's mail was refused: the held copy must never go out. */
  cancel(id: string): void {
    // Not fsync'd: should the OS itself crash first, the copy is delivered after the restart,
    // which tells the admin of a request that failed — never loses one that succeeded.
    this.journal.append({ op: "cancelled", id, at: this.now().toISOString() }, false);
  }

  /** Attempts one entry now (or joins the attempt already in flight). */
  deliver(id: string): Promise<DeliveryOutcome> {
    const running = this.inFlight.get(id);
    if (running) return running;
    const entry = this.journal.entries.get(id);
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
        this.journal.append({ op: "sent", id: entry.id, at, response: result.response }, false);
        // Compacting needs a quiet moment: no other attempt running, nothing left to retry.
        if (this.inFlight.size <= 1 && this.pending.length === 0) this.journal.compactIfGrown();
        return "sent";
      }
      if (result.permanent) {
        this.journal.append({ op: "dead", id: entry.id, at, reason: result.error }, true);
        this.log.error(
          `DEAD LETTER: the admin copy of ticket ${entry.ticket} (to ${entry.mail.to}) was refused permanently: ${result.error} — ` +
            `it is kept in ${this.path} and will not be retried`,
        );
        return "dead";
      }
      this.journal.append({ op: "failed", id: entry.id, at, reason: result.error }, false);
      return "queued";
    } catch (err) {
      this.log.error(`outbox: cannot write to ${this.path}: ${(err as Error).message}`);
      return result.ok ? "sent" : "queued";
    }
  }

  /** Retries every pending copy not already in flight, a few at a time. */
  retryAll(concurrency = 4): Promise<void> {
    this.retrying ??= this.retryRound(concurrency).finally(() => (this.retrying = null));
    return this.retrying;
  }

  private async retryRound(concurrency: number): Promise<void> {
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
        else lastError = this.journal.entries.get(e.id)?.lastError ?? lastError;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const left = this.pending.length;
    this.log.info(`outbox: retried queued admin copies: ${sent} sent, ${dead} dead, ${left} still queued${left && lastError ? ` (last error: ${lastError})` : ""}`);
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
    await this.journal.close();
  }
}
