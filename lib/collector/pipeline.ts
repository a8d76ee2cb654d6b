// The fetch–parse–commit pipeline of one check: `work` in UID order, batch by batch. Parsing of
// one batch overlaps the fetch of the next (at most two batches in memory); entries go to the
// log in UID order as each batch is parsed; group commit makes them durable behind it.
import { createHash } from "node:crypto";
import { MailerError, messageOf } from "../shared/errors";
import { collectHeap, GC_EVERY_BYTES, GC_EVERY_MESSAGES, GcPace } from "../shared/gc-pace";
import { classify, unparsedEntry, withIssued, type Classified, type MessageMeta } from "./classify";
import type { CheckResult, CollectorOptions } from "./collector";
import { GroupCommit, localError } from "./group-commit";
import { literalTooLarge, type Mailbox } from "./imap-mailbox";
import type { ParseOutcome } from "./parse-pool";
import { PendingRetries, retriesOf } from "./pending";
import { ParserPolicy } from "./parser-policy";
import type { CheckPlan } from "./plan";
import { counted } from "../shared/words";

type Sized = { uid: number; size: number };
/** what one FETCH takes: several sources held whole, or one message streamed */
type Unit = { whole: Sized[] } | { stream: Sized };

export class Pipeline {
  private readonly result: CheckResult = { tickets: 0, errors: 0, skipped: 0, stopped: false, pending: 0 };
  /** UIDs of `work` not logged yet */
  private readonly remaining: Set<number>;
  /** sha256 → how many more messages with that source may be skipped as logged before
   *  (looked up in the index the first time a batch holds that source) */
  private readonly budget = new Map<string, number>();
  /** the first ticket number the server's ledger covers; null: no ledger, no `issued` field */
  private ledgerFrom: bigint | null = null;
  private readonly commits: GroupCommit;
  private readonly parser: ParserPolicy;
  /** a few messages (a check woken by IDLE): a line each; a backlog: a line per batch */
  private readonly lineEach: boolean;
  /** failed fetches of pending UIDs, across checks (pending.ts) */
  private readonly retries: PendingRetries;
  /** a backlog's parser garbage is collected every so many messages (gc-pace.ts) */
  private readonly gc = new GcPace(GC_EVERY_BYTES, GC_EVERY_MESSAGES, collectHeap);

  constructor(private readonly mailbox: Mailbox, private readonly plan: CheckPlan, private readonly o: CollectorOptions) {
    const { work, state } = plan;
    this.remaining = new Set(work);
    this.parser = new ParserPolicy(o.pool, o.inlineUpTo);
    this.lineEach = work.length <= (o.linesUpTo ?? 20);
    this.retries = new PendingRetries(retriesOf(state), work);
    this.commits = new GroupCommit({
      log: o.log,
      state,
      pending: () => work.filter((uid) => this.remaining.has(uid)),
      retries: this.retries,
      every: o.commitEvery ?? 1000,
      ms: o.commitMs ?? 1000,
      onCommit: o.onCommit,
    });
  }

  async run(): Promise<CheckResult> {
    const { work } = this.plan;
    const from = work.length && this.o.tickets ? await this.o.tickets.ledgerStart() : null;
    this.ledgerFrom = from === null ? null : BigInt(from);
    const batchSize = this.o.batchSize ?? 100;
    let previous: Promise<void> = Promise.resolve();
    let chain: Promise<void> = Promise.resolve();
    let failure: unknown = null;
    try {
      for (let i = 0; i < work.length && !failure; i += batchSize) {
        this.commits.throwIfFailed();
        if (this.o.shouldStop?.()) {
          this.result.stopped = true;
          break;
        }
        const fetched = await this.fetchBatch(work.slice(i, i + batchSize));
        failure = fetched.failure;
        // keep UID order in the log whatever order the parses finish in
        const ordered = Promise.all(fetched.parsed).then((items) => items.sort((a, b) => (a?.entry.uid ?? 0) - (b?.entry.uid ?? 0)));
        chain = chain.then(async () => this.logBatch(await ordered));
        chain.catch(() => {}); // handled where it is awaited; not an unhandled rejection meanwhile
        // at most two batches in memory: wait for the one before this
        await previous;
        previous = chain;
      }
    } finally {
      // whatever was fetched and parsed is logged, even when the connection just dropped
      try {
        await chain;
      } finally {
        // and whatever is in the log is committed (unless writing it failed: then nothing more)
        await this.commits.finish();
      }
    }
    this.commits.throwIfFailed();
    this.result.pending = this.remaining.size;
    // the connection failed mid-batch: what was not delivered stays pending; the loop reconnects
    if (failure) throw failure;
    return this.result;
  }

  /** Fetches one batch; resolves when its sources are in hand, to the parses under way (null:
   *  not delivered, stays pending). A transport failure ends the batch: `failure`. */
  private async fetchBatch(group: number[]): Promise<{ parsed: Promise<Classified | null>[]; failure?: unknown }> {
    const parsed: Promise<Classified | null>[] = [];
    const sized = await this.mailbox.sizes(group);
    const listed = new Set(sized.map((s) => s.uid));
    parsed.push(...(await this.undelivered(group.filter((uid) => !listed.has(uid)), "the server reported no size for it")));
    const units = packUnits(sized, this.o.streamAbove ?? 1024 * 1024, this.o.batchBytes ?? 16 * 1024 * 1024, (uid) => this.retries.failedBefore(uid));
    for (const unit of units) {
      try {
        // streamed: the IMAP connection is busy until the parser has taken the whole message
        if ("stream" in unit) parsed.push(Promise.resolve(await this.streamOne(unit.stream)));
        else parsed.push(...(await this.fetchWhole(unit.whole)));
      } catch (err) {
        if (err instanceof MailerError) throw err;
        parsed.push(...this.unitFailed("stream" in unit ? [unit.stream] : unit.whole, err));
        return { parsed, failure: err };
      }
    }
    return { parsed };
  }

  private async fetchWhole(whole: Sized[]): Promise<Promise<Classified | null>[]> {
    const uv = this.plan.uidValidity;
    const got = new Map((await this.mailbox.fetchSources(whole.map((u) => u.uid))).map((m) => [m.uid, m.source]));
    const parsed = whole.flatMap(({ uid }) => {
      const source = got.get(uid);
      if (!source) return [];
      // sizes() may give only an upper bound; the source in hand is the exact size
      const meta: MessageMeta = { uid, uidValidity: uv, sha256: sha256(source), size: source.length };
      return [this.parser.parse(source).then((outcome) => this.toEntry(meta, outcome))];
    });
    const missing = whole.map((u) => u.uid).filter((uid) => !got.has(uid));
    return [...parsed, ...(await this.undelivered(missing, "the FETCH reply left it out or carried no message source"))];
  }

  private async streamOne({ uid, size }: Sized): Promise<Classified | null> {
    const source = await this.mailbox.streamSource(uid);
    if (!source) return await (await this.undelivered([uid], "the server sent no message source"))[0]!;
    const digest = new DigestingReader(source);
    const outcome = await this.parser.parseStream(digest, size);
    // the parser may stop early (failure, deadline); the rest is still read for the digest
    await digest.drain();
    // the connection failed while the message streamed: no verdict on the message (fetchBatch)
    if (digest.failure) throw digest.failure;
    return this.toEntry({ uid, uidValidity: this.plan.uidValidity, sha256: digest.hex(), size: digest.bytes || size }, outcome);
  }

  /** Listed, but not delivered by a FETCH that otherwise worked. Expunged meanwhile (gone from
   *  the mailbox): one entry that says so. Still there: the server's failure (notDelivered). */
  private async undelivered(uids: number[], why: string): Promise<Promise<Classified | null>[]> {
    if (uids.length === 0) return [];
    const still = new Set(await this.mailbox.search({ uids }));
    const now = this.o.now?.() ?? new Date();
    const expunged = (uid: number) => unparsedEntry({ uid, uidValidity: this.plan.uidValidity, sha256: null, size: 0 }, "removed from the mailbox (expunged or moved) before the collector could read it", "", now);
    return uids.map((uid) => Promise.resolve(still.has(uid) ? this.notDelivered(uid, why) : expunged(uid)));
  }

  /** The server did not deliver `uid` this time: pending again, or after MAX_FETCH_ATTEMPTS one
   *  error entry that says so. */
  private notDelivered(uid: number, why: string): Classified | null {
    if (this.retries.failed(uid, why) === "retry") {
      this.o.out(`uid ${uid}: not delivered by the server (${why}) — stays pending, fetched again at the next check`);
      return null;
    }
    return unparsedEntry({ uid, uidValidity: this.plan.uidValidity, sha256: null, size: 0 }, this.retries.givenUpReason(uid), "", this.o.now?.() ?? new Date());
  }

  /** A FETCH failed. A literal over the limit for one message is that message's fault: a "too
   *  large" entry. Anything else is the transport's: each UID of the unit is tried again. */
  private unitFailed(unit: Sized[], err: unknown): Promise<Classified | null>[] {
    const literal = literalTooLarge(err);
    if (literal && unit.length === 1) {
      const meta: MessageMeta = { uid: unit[0]!.uid, uidValidity: this.plan.uidValidity, sha256: null, size: literal.size };
      const reason = `too large: the server sent it as one piece of ${literal.size} bytes, more than the ${literal.max} the collector takes at once (MAX_LITERAL_BYTES)`;
      return [Promise.resolve(unparsedEntry(meta, reason, "", this.o.now?.() ?? new Date()))];
    }
    return unit.map(({ uid }) => Promise.resolve(this.notDelivered(uid, messageOf(err))));
  }

  private toEntry(meta: MessageMeta, outcome: ParseOutcome): Classified {
    // not this message's fault: stop instead of logging every message as unparsable
    if (!outcome.ok && outcome.unavailable) throw new MailerError("parser", outcome.error);
    const now = this.o.now?.() ?? new Date();
    return outcome.ok ? classify(outcome.mail, meta, now) : unparsedEntry(meta, outcome.error, "", now);
  }

  /** Writes one parsed batch to the log (skipping what was logged under an earlier UIDVALIDITY);
   *  what was not delivered (null) stays pending. */
  private async logBatch(fetched: (Classified | null)[]): Promise<void> {
    this.commits.throwIfFailed();
    const items = fetched.filter((item): item is Classified => item !== null);
    const uids = items.map((item) => item.entry.uid);
    const { keep, skipped } = await this.dedupe(items);
    const entries = await this.markIssued(keep);
    this.commits.throwIfFailed();
    try {
      this.o.log.write(entries);
    } catch (err) {
      throw localError(err, `write the log in ${this.o.log.logDir}`, "LOG_DIR");
    }
    for (const uid of uids) this.remaining.delete(uid), this.retries.done(uid);
    this.report(entries, skipped, uids);
    this.commits.wrote(uids.length);
    this.gc.passed(items.reduce((n, i) => n + i.entry.size, 0), uids.length);
  }

  private async dedupe(items: Classified[]): Promise<{ keep: Classified[]; skipped: number[] }> {
    const upTo = this.plan.state.dedupeUpTo;
    const digests = items.filter((i) => i.entry.uid <= upTo && i.entry.sha256 !== null && !this.budget.has(i.entry.sha256)).map((i) => i.entry.sha256!);
    const unknown = [...new Set(digests)];
    if (unknown.length) {
      const counts = await this.o.log.digestsOutside(this.plan.uidValidity, unknown);
      for (const d of unknown) this.budget.set(d, counts.get(d) ?? 0);
    }
    const keep: Classified[] = [];
    const skipped: number[] = [];
    for (const item of items) {
      const { entry } = item;
      const left = entry.sha256 === null ? 0 : (this.budget.get(entry.sha256) ?? 0);
      if (entry.uid <= upTo && left > 0) {
        this.budget.set(entry.sha256!, left - 1);
        skipped.push(entry.uid);
        continue;
      }
      keep.push(item);
    }
    return { keep, skipped };
  }

  /** With the server's ledger in the store: each success entry says whether its number was
   *  issued here and the person's mail accepted (numbers below the ledger's start: unknown). */
  private async markIssued(items: Classified[]): Promise<Classified[]> {
    const from = this.ledgerFrom;
    if (from === null || !this.o.tickets) return items;
    const covered = (t: string | undefined): t is string => t !== undefined && BigInt(t) >= from;
    const tickets = items.filter((i) => i.log === "success" && covered(i.entry.ticket)).map((i) => i.entry.ticket!);
    if (tickets.length === 0) return items;
    const ledger = await this.o.tickets.ledger(tickets);
    return items.map((i) => (i.log === "success" && covered(i.entry.ticket) ? { log: "success", entry: withIssued(i.entry, ledger.get(i.entry.ticket)?.accepted === true) } : i));
  }

  /** Counts the batch, and prints a line per message or one for the batch. */
  private report(keep: Classified[], skipped: number[], uids: number[]): void {
    const out = this.o.out;
    const tickets = keep.filter((k) => k.log === "success").length;
    const others = keep.length - tickets;
    this.result.tickets += tickets;
    this.result.errors += others;
    this.result.skipped += skipped.length;
    const total = this.plan.work.length;
    const done = total - this.remaining.size;
    if (this.lineEach) {
      for (const { log, entry } of keep) {
        if (log === "success") out(`uid ${entry.uid}: ticket ${entry.ticket}${entry.reply ? " (reply)" : ""}`, "logged", { uid: entry.uid, ticket: entry.ticket, reply: entry.reply === true });
        else out(`uid ${entry.uid}: error — ${entry.reason}`, "logged", { uid: entry.uid, reason: entry.reason });
      }
      for (const uid of skipped) out(`uid ${uid}: skipped — already logged under an earlier UIDVALIDITY (same source)`, "skipped", { uid });
    } else if (uids.length > 0 && this.o.batchLines !== false) {
      const skip = skipped.length ? `, ${skipped.length} skipped (logged before)` : "";
      out(`uids ${uids[0]}–${uids.at(-1)}: ${counted(tickets, "ticket")}, ${counted(others, "other")}${skip} (${done} of ${total})`, "batch", {
        from: uids[0],
        to: uids.at(-1),
        tickets,
        others,
        skipped: skipped.length,
        done,
        total,
      });
    }
    this.o.onProgress?.({ done, total, tickets: this.result.tickets, others: this.result.errors });
  }
}

/** Groups a batch into FETCHes of at most `batchBytes` of sources; a message over
 *  `streamAbove` is one unit of its own, streamed, never held whole; so is one whose fetch
 *  failed before (`alone`), so that it cannot fail the others again. */
function packUnits(sized: Sized[], streamAbove: number, batchBytes: number, alone: (uid: number) => boolean): Unit[] {
  const units: Unit[] = [];
  let whole: Sized[] = [];
  let bytes = 0;
  for (const s of sized) {
    if (alone(s.uid) && s.size <= streamAbove) {
      if (whole.length) units.push({ whole });
      units.push({ whole: [s] });
      whole = [];
      bytes = 0;
      continue;
    }
    if (s.size > streamAbove || bytes + s.size > batchBytes) {
      if (whole.length) units.push({ whole });
      whole = [];
      bytes = 0;
    }
    if (s.size > streamAbove) {
      units.push({ stream: s });
      continue;
    }
    whole.push(s);
    bytes += s.size;
  }
  if (whole.length) units.push({ whole });
  return units;
}

/** Passes a stream on while hashing it; the parser may stop reading early without closing it. */
class DigestingReader implements AsyncIterable<Uint8Array> {
  bytes = 0;
  /** the source failed (connection lost): the message did not arrive whole */
  failure: unknown = null;
  private readonly hash = createHash("sha256");
  private readonly pace = new GcPace();
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.next(),
      // the consumer stopping must not end the source: drain() reads the rest
      return: async () => ({ done: true, value: undefined }),
    };
  }

  /** Reads whatever the parser left. */
  async drain(): Promise<void> {
    for (let r = await this.next(); !r.done; r = await this.next());
  }

  hex(): string {
    return this.hash.digest("hex");
  }

  private async next(): Promise<IteratorResult<Uint8Array>> {
    if (this.failure) return { done: true, value: undefined };
    let r: IteratorResult<Uint8Array>;
    try {
      r = await this.iterator.next();
    } catch (err) {
      this.failure = err;
      throw err;
    }
    if (!r.done) {
      this.hash.update(r.value);
      this.bytes += r.value.length;
      this.pace.passed(r.value.length);
    }
    return r;
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
