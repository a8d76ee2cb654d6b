// The fetch–parse–commit pipeline of one check: `work` in UID order, batch by batch. Parsing of
// one batch overlaps the fetch of the next (at most two batches in memory); entries go to the
// log in UID order as each batch is parsed; group commit makes them durable behind it.
import { createHash } from "node:crypto";
import { MailerError } from "../shared/errors";
import { classify, unparsedEntry, withIssued, type Classified, type MessageMeta } from "./classify";
import type { CheckResult, CollectorOptions } from "./collector";
import { GroupCommit, localError } from "./group-commit";
import type { Mailbox } from "./imap-mailbox";
import type { ParseOutcome } from "./parse-pool";
import { ParserPolicy } from "./parser-policy";
import type { CheckPlan } from "./plan";

type Sized = { uid: number; size: number };
/** what one FETCH takes: several sources held whole, or one message streamed */
type Unit = { whole: Sized[] } | { stream: Sized };

export class Pipeline {
  private readonly result: CheckResult = { tickets: 0, errors: 0, skipped: 0, stopped: false };
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

  constructor(private readonly mailbox: Mailbox, private readonly plan: CheckPlan, private readonly o: CollectorOptions) {
    const { work, state } = plan;
    this.remaining = new Set(work);
    this.parser = new ParserPolicy(o.pool, o.inlineUpTo);
    this.lineEach = work.length <= (o.linesUpTo ?? 20);
    this.commits = new GroupCommit({
      log: o.log,
      state,
      pending: () => work.filter((uid) => this.remaining.has(uid)),
      every: o.commitEvery ?? 1000,
      ms: o.commitMs ?? 1000,
    });
  }

  async run(): Promise<CheckResult> {
    const { work } = this.plan;
    const from = work.length && this.o.tickets ? await this.o.tickets.ledgerStart() : null;
    this.ledgerFrom = from === null ? null : BigInt(from);
    const batchSize = this.o.batchSize ?? 100;
    let previous: Promise<void> = Promise.resolve();
    let chain: Promise<void> = Promise.resolve();
    try {
      for (let i = 0; i < work.length; i += batchSize) {
        this.commits.throwIfFailed();
        if (this.o.shouldStop?.()) {
          this.result.stopped = true;
          break;
        }
        const group = work.slice(i, i + batchSize);
        const parsed = await this.fetchBatch(group);
        // keep UID order in the log whatever order the parses finish in
        const ordered = Promise.all(parsed).then((items) => items.sort((a, b) => (a?.entry.uid ?? 0) - (b?.entry.uid ?? 0)));
        chain = chain.then(async () => this.logBatch(await ordered, group));
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
    return this.result;
  }

  /** Fetches one batch; resolves when its sources are in hand, to the parses under way. */
  private async fetchBatch(group: number[]): Promise<Promise<Classified | null>[]> {
    const uv = this.plan.uidValidity;
    const parsed: Promise<Classified | null>[] = [];
    const units = packUnits(await this.mailbox.sizes(group), this.o.streamAbove ?? 1024 * 1024, this.o.batchBytes ?? 16 * 1024 * 1024);
    for (const unit of units) {
      if ("stream" in unit) {
        // streamed: the IMAP connection is busy until the parser has taken the whole message
        parsed.push(Promise.resolve(await this.streamOne(unit.stream)));
        continue;
      }
      for (const { uid, source } of await this.mailbox.fetchSources(unit.whole.map((u) => u.uid))) {
        // sizes() may give only an upper bound; the source in hand is the exact size
        const meta: MessageMeta = { uid, uidValidity: uv, sha256: sha256(source), size: source.length };
        parsed.push(this.parser.parse(source).then((outcome) => this.toEntry(meta, outcome)));
      }
    }
    return parsed;
  }

  private async streamOne({ uid, size }: Sized): Promise<Classified | null> {
    const source = await this.mailbox.streamSource(uid);
    if (!source) return null; // expunged meanwhile
    const digest = new DigestingReader(source);
    const outcome = await this.parser.parseStream(digest, size);
    // the parser may stop early (failure, deadline); the rest is still read for the digest
    await digest.drain();
    return this.toEntry({ uid, uidValidity: this.plan.uidValidity, sha256: digest.hex(), size: digest.bytes || size }, outcome);
  }

  private toEntry(meta: MessageMeta, outcome: ParseOutcome): Classified {
    // not this message's fault: stop instead of logging every message as unparsable
    if (!outcome.ok && outcome.unavailable) throw new MailerError("parser", outcome.error);
    const now = this.o.now?.() ?? new Date();
    return outcome.ok ? classify(outcome.mail, meta, now) : unparsedEntry(meta, outcome.error, "", now);
  }

  /** Writes one parsed batch to the log (skipping what was logged under an earlier UIDVALIDITY). */
  private async logBatch(items: (Classified | null)[], uids: number[]): Promise<void> {
    this.commits.throwIfFailed();
    const { keep, skipped } = await this.dedupe(items.filter((i): i is Classified => i !== null));
    const entries = await this.markIssued(keep);
    this.commits.throwIfFailed();
    try {
      this.o.log.write(entries);
    } catch (err) {
      throw localError(err, `write the log in ${this.o.log.logDir}`, "LOG_DIR");
    }
    for (const uid of uids) this.remaining.delete(uid);
    this.report(entries, skipped, uids);
    this.commits.wrote(uids.length);
  }

  private async dedupe(items: Classified[]): Promise<{ keep: Classified[]; skipped: number[] }> {
    const upTo = this.plan.state.dedupeUpTo;
    const unknown = [...new Set(items.filter((i) => i.entry.uid <= upTo && !this.budget.has(i.entry.sha256)).map((i) => i.entry.sha256))];
    if (unknown.length) {
      const counts = await this.o.log.digestsOutside(this.plan.uidValidity, unknown);
      for (const d of unknown) this.budget.set(d, counts.get(d) ?? 0);
    }
    const keep: Classified[] = [];
    const skipped: number[] = [];
    for (const item of items) {
      const { entry } = item;
      const left = this.budget.get(entry.sha256) ?? 0;
      if (entry.uid <= upTo && left > 0) {
        this.budget.set(entry.sha256, left - 1);
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
    if (this.lineEach) {
      for (const { log, entry } of keep) {
        out(log === "success" ? `uid ${entry.uid}: ticket ${entry.ticket}${entry.reply ? " (reply)" : ""}` : `uid ${entry.uid}: error — ${entry.reason}`);
      }
      for (const uid of skipped) out(`uid ${uid}: skipped — already logged under an earlier UIDVALIDITY (same source)`);
    } else if (uids.length > 0) {
      const work = this.plan.work.length;
      const done = work - this.remaining.size;
      const skip = skipped.length ? `, ${skipped.length} skipped (logged before)` : "";
      out(`uids ${uids[0]}–${uids.at(-1)}: ${tickets} ticket${tickets === 1 ? "" : "s"}, ${others} other${others === 1 ? "" : "s"}${skip} (${done} of ${work})`);
    }
  }
}

/** Groups a batch into FETCHes of at most `batchBytes` of sources; a message over
 *  `streamAbove` is one unit of its own, streamed, never held whole. */
function packUnits(sized: Sized[], streamAbove: number, batchBytes: number): Unit[] {
  const units: Unit[] = [];
  let whole: Sized[] = [];
  let bytes = 0;
  for (const s of sized) {
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
  private readonly hash = createHash("sha256");
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
    const r = await this.iterator.next();
    if (!r.done) {
      this.hash.update(r.value);
      this.bytes += r.value.length;
    }
    return r;
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
