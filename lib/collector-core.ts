// One check of the mailbox, and the loop around it.
//
// What is new: IMAP UIDs under one UIDVALIDITY, never the \Seen flag (except to pick the
// starting point when there is no checkpoint at all). Exactly once: entries are appended to
// the log (fsync'd) before the checkpoint moves past them, and on start-up the log is read
// back, so whatever a kill -9 interrupted is either in the log (skipped next time) or still
// in the checkpoint's pending list (done next time).
import { createHash } from "node:crypto";
import { classify, unparsedEntry, type Classified, type MessageMeta } from "./classify";
import { readCheckpoint, writeCheckpoint, type Checkpoint } from "./checkpoint";
import type { CollectorLog } from "./log-index";
import type { Mailbox } from "./mailbox";
import type { ParseOutcome, ParsePool } from "./parse-pool";

export interface CollectorOptions {
  /** login@host:port/INBOX — a checkpoint written for another account is not used */
  account: string;
  mailboxName: string;
  stateDir: string;
  log: CollectorLog;
  pool: ParsePool;
  /** --all: the first check takes every message not logged yet */
  all?: boolean;
  /** progress lines (one per logged message, notices) */
  out: (line: string) => void;
  /** checked between batches: the batch in hand is finished, then the check returns */
  shouldStop?: () => boolean;
  /** UIDs per FETCH (default 200) */
  batchSize?: number;
  /** bytes of whole sources per FETCH (default 16 MiB) */
  batchBytes?: number;
  /** messages above this size are streamed, never held whole (default 1 MiB) */
  streamAbove?: number;
  now?: () => Date;
}

export interface CheckResult {
  tickets: number;
  errors: number;
  /** already logged under an earlier UIDVALIDITY (same source) */
  skipped: number;
  /** a stop was requested before all work was done */
  stopped: boolean;
}

/** Writing the log or the checkpoint failed: not a mail-server problem, so not retried. */
export class LocalStateError extends Error {}

export class Collector {
  private allRequested: boolean;

  constructor(private readonly o: CollectorOptions) {
    this.allRequested = o.all === true;
  }

  async check(mailbox: Mailbox): Promise<CheckResult> {
    const o = this.o;
    const info = await mailbox.open();
    const uv = info.uidValidity;
    let cp = readCheckpointSafe(o.stateDir);
    if (cp && cp.account !== o.account) cp = null;

    let lastUid: number;
    let pending: number[];
    let dedupeUpTo = 0;
    if (cp && cp.uidValidity === uv) {
      // A checkpoint that lags behind the log (kill -9 between append and checkpoint write) is
      // harmless: everything above lastUid and everything pending is looked at again, and
      // whatever the log already holds for this UIDVALIDITY is skipped by UID.
      lastUid = cp.lastUid;
      pending = cp.pending;
      dedupeUpTo = cp.dedupeUpTo;
      if (this.allRequested) {
        const all = await mailbox.search({ all: true });
        pending = union(pending, all.filter((uid) => uid <= lastUid));
        dedupeUpTo = Math.max(dedupeUpTo, lastUid);
      }
    } else if (cp) {
      const all = await mailbox.search({ all: true });
      o.out(
        `UIDVALIDITY of ${o.mailboxName} changed (${cp.uidValidity} → ${uv}): the server renumbered the mailbox. ` +
          `Re-scanning its ${all.length} message${all.length === 1 ? "" : "s"}; those already logged (same source, by sha256) are skipped.`,
      );
      lastUid = maxOf(all);
      pending = all;
      dedupeUpTo = lastUid;
    } else if (o.log.maxUid(uv) > 0 && !this.allRequested) {
      // no checkpoint, but the log knows this mailbox: carry on after what it holds
      lastUid = o.log.maxUid(uv);
      pending = [];
    } else {
      const all = await mailbox.search({ all: true });
      lastUid = maxOf(all);
      if (this.allRequested) {
        pending = all;
        o.out(`--all: ${all.length} message${all.length === 1 ? "" : "s"} in ${o.mailboxName}; taking every one not logged yet.`);
      } else {
        pending = await mailbox.search({ unseen: true });
        o.out(
          `First run: ${pending.length} unread message${pending.length === 1 ? "" : "s"} to collect in ${o.mailboxName} ` +
            `(of ${all.length}). From now on every new message counts, read or not; --all takes the older ones too.`,
        );
      }
      dedupeUpTo = lastUid;
    }
    this.allRequested = false;

    const fresh = await mailbox.search({ above: lastUid });
    const top = Math.max(lastUid, maxOf(fresh));
    const work = union(pending, fresh).filter((uid) => !o.log.has(uv, uid));
    const state: Checkpoint = { account: o.account, uidValidity: uv, lastUid: top, pending: work, dedupeUpTo: work.length ? dedupeUpTo : 0 };
    if (!cp || JSON.stringify(cp) !== JSON.stringify(state)) saveCheckpoint(o.stateDir, state);

    return await this.collect(mailbox, uv, work, state);
  }

  /** Fetches, parses and logs `work` in UID order, batch by batch. Parsing of one batch (in the
   *  worker) overlaps the fetch of the next; logging keeps UID order. */
  private async collect(mailbox: Mailbox, uv: number, work: number[], state: Checkpoint): Promise<CheckResult> {
    const o = this.o;
    const batchSize = o.batchSize ?? 200;
    const batchBytes = o.batchBytes ?? 16 * 1024 * 1024;
    const streamAbove = o.streamAbove ?? 1024 * 1024;
    const result: CheckResult = { tickets: 0, errors: 0, skipped: 0, stopped: false };
    const budget = state.dedupeUpTo > 0 ? o.log.digestsOutside(uv) : new Map<string, number>();
    const remaining = new Set(work);

    const commit = (items: (Classified | null)[], uids: number[]) => {
      const keep: Classified[] = [];
      const skippedUids: number[] = [];
      for (const item of items) {
        if (!item) continue;
        const { entry } = item;
        const left = budget.get(entry.sha256) ?? 0;
        if (entry.uid <= state.dedupeUpTo && left > 0) {
          budget.set(entry.sha256, left - 1);
          skippedUids.push(entry.uid);
          continue;
        }
        keep.push(item);
      }
      try {
        o.log.append(keep);
        for (const uid of uids) remaining.delete(uid);
        state.pending = work.filter((uid) => remaining.has(uid));
        if (state.pending.length === 0) state.dedupeUpTo = 0;
        saveCheckpoint(o.stateDir, state);
      } catch (err) {
        throw err instanceof LocalStateError ? err : new LocalStateError(`cannot write the log in ${o.log.logDir}: ${(err as Error).message} — check free space and permissions of LOG_DIR`);
      }
      for (const { log, entry } of keep) {
        if (log === "success") {
          result.tickets++;
          o.out(`uid ${entry.uid}: ticket ${entry.ticket}${entry.reply ? " (reply)" : ""}`);
        } else {
          result.errors++;
          o.out(`uid ${entry.uid}: error — ${entry.reason}`);
        }
      }
      for (const uid of skippedUids) {
        result.skipped++;
        o.out(`uid ${uid}: skipped — already logged under an earlier UIDVALIDITY (same source)`);
      }
    };

    let previous: Promise<void> = Promise.resolve();
    let chain: Promise<void> = Promise.resolve();
    try {
      for (let i = 0; i < work.length; i += batchSize) {
        if (o.shouldStop?.()) {
          result.stopped = true;
          break;
        }
        const group = work.slice(i, i + batchSize);
        const sized = await mailbox.sizes(group);
        const parsed: Promise<Classified | null>[] = [];
        let unit: { uid: number; size: number }[] = [];
        let unitBytes = 0;
        const flush = async () => {
          if (unit.length === 0) return;
          const sizes = new Map(unit.map((u) => [u.uid, u.size]));
          const sources = await mailbox.fetchSources(unit.map((u) => u.uid));
          unit = [];
          unitBytes = 0;
          for (const { uid, source } of sources) {
            const meta: MessageMeta = { uid, uidValidity: uv, sha256: sha256(source), size: sizes.get(uid) ?? source.length };
            parsed.push(o.pool.parse(source).then((outcome) => this.toEntry(meta, outcome)));
          }
        };
        for (const s of sized) {
          if (s.size > streamAbove) {
            await flush();
            // streamed: the IMAP connection is busy until the parser has taken the whole message
            const item = await this.streamOne(mailbox, s.uid, s.size, uv);
            parsed.push(Promise.resolve(item));
          } else {
            if (unitBytes + s.size > batchBytes) await flush();
            unit.push(s);
            unitBytes += s.size;
          }
        }
        await flush();
        // keep UID order in the log whatever order the parses finish in
        const ordered = Promise.all(parsed).then((items) => items.sort((a, b) => (a?.entry.uid ?? 0) - (b?.entry.uid ?? 0)));
        chain = chain.then(async () => commit(await ordered, group));
        chain.catch(() => {}); // handled where it is awaited; not an unhandled rejection meanwhile
        // at most two batches in memory: wait for the one before this
        await previous;
        previous = chain;
      }
    } finally {
      // whatever was fetched and parsed is logged, even when the connection just dropped
      await chain;
    }
    return result;
  }

  private async streamOne(mailbox: Mailbox, uid: number, size: number, uv: number): Promise<Classified | null> {
    const source = await mailbox.streamSource(uid);
    if (!source) return null; // expunged meanwhile
    const hash = createHash("sha256");
    let bytes = 0;
    const iterator = source[Symbol.asyncIterator]();
    // the parser may stop early (failure, deadline); the rest is still read for the digest
    const tapped: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        async next() {
          const r = await iterator.next();
          if (!r.done) {
            hash.update(r.value);
            bytes += r.value.length;
          }
          return r;
        },
        async return() {
          return { done: true, value: undefined };
        },
      }),
    };
    const outcome = await this.o.pool.parseStream(tapped, size);
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      hash.update(r.value);
      bytes += r.value.length;
    }
    return this.toEntry({ uid, uidValidity: uv, sha256: hash.digest("hex"), size: bytes || size }, outcome);
  }

  private toEntry(meta: MessageMeta, outcome: ParseOutcome): Classified {
    // not this message's fault: stop instead of logging every message as unparsable
    if (!outcome.ok && outcome.unavailable) throw new LocalStateError(outcome.reason);
    const now = this.o.now?.() ?? new Date();
    return outcome.ok ? classify(outcome.mail, meta, now) : unparsedEntry(meta, outcome.reason, "", now);
  }
}

function readCheckpointSafe(stateDir: string): Checkpoint | null {
  try {
    return readCheckpoint(stateDir);
  } catch (err) {
    throw new LocalStateError((err as Error).message);
  }
}

function saveCheckpoint(stateDir: string, state: Checkpoint): void {
  try {
    writeCheckpoint(stateDir, state);
  } catch (err) {
    throw new LocalStateError(`cannot write the checkpoint in STATE_DIR=${stateDir}: ${(err as Error).message} — check free space and permissions`);
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function maxOf(values: number[]): number {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return max;
}

function union(a: number[], b: number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}
