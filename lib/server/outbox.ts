// The outbox of the admin's copies: the delivery policy on top of the store (lib/store) — when a
// copy may go out, one attempt at a time, retries, dead letters.
//
// Every copy is created in the store, held, in the same transaction that issues its ticket
// number, BEFORE the person's own mail is sent; released for delivery when that send succeeds,
// cancelled when it fails. A held copy whose process dies is delivered by the next process that
// looks (at once on the same host, after the hold expires elsewhere), because the person's mail
// may have been accepted just before the crash. Claims are atomic in the store, so no two
// processes (several servers may share STATE_DIR) ever send one copy at the same time; only the
// process ending (kill -9, crash) between the SMTP server taking the whole copy and the "sent"
// record, or a timed-out transaction the server did commit, can send it again — with the same
// Message-ID and Date (docs/guarantees.md "Duplicate admin copies").
import { currentHolder, holderGone } from "../store/holder";
import type { IssuedTicket, OutboxCopy, OutboxSummary, StoredMail, TicketStore } from "../store/types";
import type { MailSender } from "./smtp";

export type DeliveryOutcome = "sent" | "queued" | "dead";

export interface OutboxLog {
  info(line: string): void;
  /** loud: dead letters and store errors */
  error(line: string): void;
}

export interface OutboxOptions {
  /** how long a held or claimed copy is protected from other processes (longer than any send) */
  claimMs: number;
  /** seconds between retry rounds (OUTBOX_RETRY) */
  retrySeconds: number;
  now?: () => Date;
}

/** copies claimed per round of retries */
const CLAIM_BATCH = 20;

export class Outbox {
  private timer: ReturnType<typeof setInterval> | null = null;
  private retrying: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<DeliveryOutcome>>();
  /** the last temporary failure, for the retry round's summary line */
  private lastError = "";

  constructor(
    private readonly store: TicketStore,
    private readonly sender: MailSender,
    private readonly log: OutboxLog,
    private readonly o: OutboxOptions,
  ) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** Issues the next ticket number with its admin copy, held, durably (rejects on a store error). */
  issue(requester: string, adminCopy: (ticket: string) => Omit<StoredMail, "messageId" | "date">): Promise<IssuedTicket> {
    return this.store.issue({ requester, adminCopy, holder: currentHolder(), holdMs: this.o.claimMs, now: this.now() });
  }

  /** The person's mail was refused: the held copy must never go out. */
  cancel(id: string): Promise<void> {
    return this.store.cancel(id);
  }

  /** The person's mail was accepted: the copy is released and attempted at once. */
  async release(id: string): Promise<DeliveryOutcome> {
    const copy = await this.store.release(id, { holder: currentHolder(), claimMs: this.o.claimMs, now: this.now() });
    return copy ? await this.track(this.attempt(copy)) : "queued";
  }

  /** At start: copies held or claimed by processes of this host that are gone become due. */
  async recover(): Promise<number> {
    const gone = (await this.store.holders()).filter(holderGone);
    return await this.store.reclaim(gone);
  }

  summary(): Promise<OutboxSummary> {
    return this.store.summary();
  }

  private track(p: Promise<DeliveryOutcome>): Promise<DeliveryOutcome> {
    this.inFlight.add(p);
    return p.finally(() => this.inFlight.delete(p));
  }

  private async attempt(copy: OutboxCopy): Promise<DeliveryOutcome> {
    const result = await this.sender.send(copy.mail);
    const at = this.now();
    const key = { id: copy.id, claimToken: copy.claimToken, at };
    try {
      if (result.ok) {
        await this.store.record({ ...key, outcome: "sent", response: result.response });
        return "sent";
      }
      if (result.permanent) {
        await this.store.record({ ...key, outcome: "dead", error: result.error });
        this.log.error(
          `DEAD LETTER: the admin copy of ticket ${copy.ticket} (to ${copy.mail.to}) was refused permanently: ${result.error} — ` +
            `it is kept in the outbox and not retried (\`bun run state\` lists it; \`bun run state --requeue ${copy.ticket}\` sends it again)`,
        );
        return "dead";
      }
      this.lastError = result.error;
      // due again at once: the next retry round (of this server, or of any server that starts) takes it
      await this.store.record({ ...key, outcome: "failed", error: result.error, retryAt: at });
      return "queued";
    } catch (err) {
      // the claim expires and another attempt follows: never lost, at worst sent twice
      this.log.error(`outbox: cannot record the attempt for ticket ${copy.ticket}: ${(err as Error).message}`);
      return result.ok ? "sent" : "queued";
    }
  }

  /** Claims the copies that are due and attempts them, a few at a time, until none is left. */
  retryAll(concurrency = 4): Promise<void> {
    this.retrying ??= this.retryRound(concurrency).finally(() => (this.retrying = null));
    return this.retrying;
  }

  private async retryRound(concurrency: number): Promise<void> {
    const tally = { sent: 0, dead: 0, queued: 0 };
    for (;;) {
      let claimed: OutboxCopy[];
      try {
        claimed = await this.store.claim({ holder: currentHolder(), claimMs: this.o.claimMs, limit: CLAIM_BATCH, now: this.now() });
      } catch (err) {
        this.log.error(`outbox: cannot read the queued admin copies: ${(err as Error).message}`);
        return;
      }
      if (claimed.length === 0) break;
      const worker = async () => {
        for (let c = claimed.shift(); c; c = claimed.shift()) tally[await this.track(this.attempt(c))]++;
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      if (tally.queued > 0) break; // the SMTP server is not taking them now: wait for the next round
    }
    if (tally.sent + tally.dead + tally.queued === 0) return;
    const left = (await this.store.summary(0).catch(() => null))?.ready;
    const why = left && tally.queued ? ` (last error: ${this.lastError})` : "";
    this.log.info(`outbox: retried queued admin copies: ${tally.sent} sent, ${tally.dead} dead, ${left ?? "?"} still queued${why}`);
  }

  /** Retries now and then every OUTBOX_RETRY seconds. */
  start(): void {
    void this.retryAll();
    this.timer = setInterval(() => void this.retryAll(), this.o.retrySeconds * 1000);
    this.timer.unref?.();
  }

  /** Stops the timer and waits for the attempts in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.retrying;
    await Promise.all(this.inFlight);
  }
}
