// The collector's public class: one check of the mailbox. Planning it (plan.ts), the
// fetch–parse–commit pipeline (pipeline.ts), group commit (group-commit.ts) and where messages
// are parsed (parser-policy.ts) are modules of their own; the loop around checks is loop.ts.
//
// Exactly once: entries are appended to the log, and fsync'd before the index and the
// checkpoint move past them; on start-up the part of the log past the indexed offset is read
// back, so whatever a kill -9 interrupted is either in the log (skipped next time) or still in
// the checkpoint's pending list (done next time).
import type { CollectorStore, TicketStore } from "../store/types";
import type { Say } from "../shared/log";
import type { Mailbox } from "./imap-mailbox";
import type { CollectorLog } from "./log";
import type { ParsePool } from "./parse-pool";
import { Pipeline } from "./pipeline";
import { planCheck } from "./plan";

export { INLINE_UP_TO } from "./parser-policy";

export interface CollectorOptions {
  /** the checkpoint's key: this mailbox into this LOG_DIR (lib/store/keys.ts checkpointKey) */
  key: string;
  mailboxName: string;
  store: CollectorStore;
  /** the server's ledger, when it shares the store: success entries then carry `issued` */
  tickets?: Pick<TicketStore, "ledger" | "ledgerStart">;
  log: CollectorLog;
  pool: ParsePool;
  /** --all: the first check takes every message not logged yet */
  all?: boolean;
  /** progress lines (one per logged message, notices), with their event name and fields */
  out: Say;
  /** after each batch is logged: how far the check is (the live progress line on a terminal) */
  onProgress?: (p: Progress) => void;
  /** a line per batch for a backlog (default true); off when a live progress line shows it */
  batchLines?: boolean;
  /** after each checkpoint write of a group commit (tests wait on it; nothing else needs it) */
  onCommit?: () => void;
  /** checked between batches: the batch in hand is finished, then the check returns */
  shouldStop?: () => boolean;
  /** UIDs per batch (default 100: a larger one only makes the heap grow, for no gain in time;
   *  bench/FINDINGS.md, "Moved from code comments") */
  batchSize?: number;
  /** bytes of whole sources per FETCH (default 16 MiB) */
  batchBytes?: number;
  /** messages above this size are streamed, never held whole (default 1 MiB) */
  streamAbove?: number;
  /** messages up to this size are parsed on the main thread, without HTML conversion (see
   *  parser-policy.ts; default INLINE_UP_TO); 0 = every message in the worker */
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
  /** messages of this check not logged yet (left for the next check) */
  pending: number;
}

export interface Progress {
  /** messages of this check logged (or skipped) so far, of `total` */
  done: number;
  total: number;
  tickets: number;
  others: number;
}

export class Collector {
  private allRequested: boolean;

  constructor(private readonly o: CollectorOptions) {
    this.allRequested = o.all === true;
  }

  /** One check. A MailerError ("local", "parser") means this machine cannot go on: not retried. */
  async check(mailbox: Mailbox): Promise<CheckResult> {
    const o = this.o;
    const plan = await planCheck(mailbox, { key: o.key, mailboxName: o.mailboxName, store: o.store, log: o.log, all: this.allRequested, out: o.out });
    // --all is for the first check only; later checks take what is new
    this.allRequested = false;
    return await new Pipeline(mailbox, plan, o).run();
  }
}
