// One check of the mailbox, and the loop around it.
//
// What is new: IMAP UIDs under one UIDVALIDITY, never the \Seen flag (except to pick the
// starting point when there is no checkpoint at all). Exactly once: entries are appended to
// the log, and fsync'd before any checkpoint moves past them (group commit, see collect), and
// on start-up the log is read back, so whatever a kill -9 interrupted is either in the log
// (skipped next time) or still in the checkpoint's pending list (done next time).
import { createHash } from "node:crypto";
import { classify, unparsedEntry, type Classified, type MessageMeta } from "./classify";
import { readCheckpoint, writeCheckpoint, writeCheckpointAsync, type Checkpoint } from "./checkpoint";
import type { CollectorLog } from "./log";
import type { Mailbox } from "./imap-mailbox";
import { parseMail } from "../shared/mail-text";
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
  /** UIDs per batch (default 100: a larger one only makes the heap grow — 200 peaked ~12 MB higher at 10,000 messages — for no measurable gain in time) */
  batchSize?: number;
  /** bytes of whole sources per FETCH (default 16 MiB) */
  batchBytes?: number;
  /** messages above this size are streamed, never held whole (default 1 MiB) */
  streamAbove?: number;
  /** messages up to this size are parsed on the main thread, without HTML conversion (see
   *  Parser below; default INLINE_UP_TO); 0 = every message in the worker */
  inlineUpTo?: number;
  /** group commit: fsync the logs and write the checkpoint after this many messages
   *  (default 1000) or this long (default 1000 ms), whichever comes first */
  commitEvery?: number;
  commitMs?: number;
  /** a check with at most this many messages prints a line per message, a larger one a line
   *  per batch (default 20) */
  linesUpTo?: number;
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

  /** Fetches, parses and logs `work` in UID order, batch by batch. Parsing of one batch
   *  overlaps the fetch of the next; logging keeps UID order. Entries are written to the log as
   *  each batch is parsed; every `commitEvery` messages or `commitMs` (whichever first) one
   *  group commit — fsync of both logs, then the checkpoint — runs in the background while
   *  fetching goes on; and one more when the check ends. */
  private async collect(mailbox: Mailbox, uv: number, work: number[], state: Checkpoint): Promise<CheckResult> {
    const o = this.o;
    const batchSize = o.batchSize ?? 100;
    const batchBytes = o.batchBytes ?? 16 * 1024 * 1024;
    const streamAbove = o.streamAbove ?? 1024 * 1024;
    const commitEvery = o.commitEvery ?? 1000;
    const commitMs = o.commitMs ?? 1000;
    // a few messages (a check woken by IDLE): a line each; a backlog: a line per batch
    const lineEach = work.length <= (o.linesUpTo ?? 20);
    const result: CheckResult = { tickets: 0, errors: 0, skipped: 0, stopped: false };
    const budget = state.dedupeUpTo > 0 ? o.log.digestsOutside(uv) : new Map<string, number>();
    const remaining = new Set(work);
    const parser = new Parser(o.pool, o.inlineUpTo ?? INLINE_UP_TO);

    let written = 0; // messages logged (or skipped) since the last commit started
    let lastCommit = Date.now();
    let committing: Promise<void> | null = null;
    let commitFailed: unknown = null;
    const localError = (err: unknown, what: string) =>
      err instanceof LocalStateError ? err : new LocalStateError(`cannot ${what}: ${(err as Error).message} — check free space and permissions of ${what.includes("checkpoint") ? `STATE_DIR=${o.stateDir}` : "LOG_DIR"}`);
    /** Claims done exactly what is in the log at this moment — after fsync'ing the log. */
    const commit = async () => {
      state.pending = work.filter((uid) => remaining.has(uid));
      if (state.pending.length === 0) state.dedupeUpTo = 0;
      const snapshot: Checkpoint = { ...state, pending: state.pending };
      written = 0;
      lastCommit = Date.now();
      try {
        await o.log.sync();
      } catch (err) {
        throw localError(err, `write the log in ${o.log.logDir}`);
      }
      try {
        await writeCheckpointAsync(o.stateDir, snapshot);
      } catch (err) {
        throw localError(err, `write the checkpoint in STATE_DIR=${o.stateDir}`);
      }
    };
    const maybeCommit = () => {
      if (committing || (written < commitEvery && Date.now() - lastCommit < commitMs)) return;
      committing = commit().then(
        () => void (committing = null),
        (err) => void ((commitFailed = err), (committing = null)),
      );
    };
    const throwIfCommitFailed = () => {
      if (commitFailed) throw commitFailed;
    };

    const logBatch = (items: (Classified | null)[], uids: number[]) => {
      throwIfCommitFailed();
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
        o.log.write(keep);
      } catch (err) {
        throw localError(err, `write the log in ${o.log.logDir}`);
      }
      for (const uid of uids) remaining.delete(uid);
      written += uids.length;
      let tickets = 0;
      for (const { log, entry } of keep) {
        if (log === "success") {
          tickets++;
          if (lineEach) o.out(`uid ${entry.uid}: ticket ${entry.ticket}${entry.reply ? " (reply)" : ""}`);
        } else if (lineEach) {
          o.out(`uid ${entry.uid}: error — ${entry.reason}`);
        }
      }
      result.tickets += tickets;
      result.errors += keep.length - tickets;
      result.skipped += skippedUids.length;
      if (lineEach) {
        for (const uid of skippedUids) o.out(`uid ${uid}: skipped — already logged under an earlier UIDVALIDITY (same source)`);
      } else if (uids.length > 0) {
        const done = work.length - remaining.size;
        const skipped = skippedUids.length ? `, ${skippedUids.length} skipped (logged before)` : "";
        o.out(`uids ${uids[0]}–${uids.at(-1)}: ${tickets} ticket${tickets === 1 ? "" : "s"}, ${keep.length - tickets} other${keep.length - tickets === 1 ? "" : "s"}${skipped} (${done} of ${work.length})`);
      }
      maybeCommit();
    };

    let previous: Promise<void> = Promise.resolve();
    let chain: Promise<void> = Promise.resolve();
    try {
      for (let i = 0; i < work.length; i += batchSize) {
        throwIfCommitFailed();
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
          const sources = await mailbox.fetchSources(unit.map((u) => u.uid));
          unit = [];
          unitBytes = 0;
          for (const { uid, source } of sources) {
            // sizes() may give only an upper bound; the source in hand is the exact size
            const meta: MessageMeta = { uid, uidValidity: uv, sha256: sha256(source), size: source.length };
            parsed.push(parser.parse(source).then((outcome) => this.toEntry(meta, outcome)));
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
        chain = chain.then(async () => logBatch(await ordered, group));
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
        await committing;
        if (!commitFailed && written > 0) await commit();
      }
    }
    throwIfCommitFailed();
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

/** 256 KiB: see Parser. */
export const INLINE_UP_TO = 256 * 1024;

/**
 * Where a message held whole is parsed. Most mail is parsed on the main thread: handing each
 * message to the worker and back cost more than the parse itself, and the worker's second JS
 * heap is ~30 MB of peak RSS (bench/FINDINGS.md; measured again for this change: one
 * postMessage per 200-message unit still peaked at 149–150 MB at 10,000 messages, also with
 * a `smol` worker, against 119 MB inline). The worker stays for what can be slow — and only
 * there can a deadline stop a parser, since a timer on the thread running it never fires:
 *
 * - messages over `inlineUpTo` (256 KiB): whole, or streamed above 1 MiB;
 * - any message whose text needs an HTML part converted: html-to-text is the one stage whose
 *   cost grows faster than the input (measured on the main thread: 1 MiB of nested <div>
 *   1.6 s, 300 KiB of nested tables 0.8 s). The main thread parses with conversion turned off
 *   (parseMail's `convertHtml: false`), which says when it was needed; then the message goes
 *   to the worker. multipart/alternative with a text part needs no conversion.
 *
 * What the main thread can then meet is bounded: mailparser's own limits reject a header over
 * 1 MiB and too many MIME nodes ("Max allowed child nodes exceeded") as errors, and every
 * other stage is linear. Hand-made worst cases (each one error entry or a normal entry, never
 * a hang): 1 MiB of short lines 57 ms, 1 MiB of QP soft breaks 47 ms, 40,000 encoded words
 * 47 ms, 100,000 nested address groups in From+Reply-To (586 KiB) 0.8 s, 20,000 MIME parts
 * or nesting 20,000 deep rejected after 1 s (parseMail waits 1 s for 'end' after an error),
 * 5,000 nested message/rfc822 6 ms. Under 256 KiB the worst seen is ~0.3 s. The trade-off:
 * an unknown mailparser bug that loops forever on small non-HTML mail would stall the
 * collector instead of costing one error entry; none is known, the shared corpus has none, and
 * the parser's failures (rejections) still become one error entry each.
 */
class Parser {
  private inline: Promise<unknown> = Promise.resolve();
  constructor(private readonly pool: ParsePool, private readonly inlineUpTo: number) {}

  parse(source: Buffer): Promise<ParseOutcome> {
    if (source.length > this.inlineUpTo) return this.pool.parse(source);
    // one at a time, in order: a unit's parsers never pile up in memory together
    const run = this.inline.then(() => this.parseInline(source));
    this.inline = run.catch(() => {});
    return run;
  }

  private async parseInline(source: Buffer): Promise<ParseOutcome> {
    let mail;
    try {
      mail = await parseMail(source, { convertHtml: false });
    } catch (err) {
      return { ok: false, reason: `the message could not be parsed: ${(err as Error)?.message ?? String(err)}` };
    }
    return mail.htmlNotConverted ? this.pool.parse(source) : { ok: true, mail };
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
