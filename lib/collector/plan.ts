// Planning one check: which UIDs to take, from where. What is new is IMAP UIDs under one
// UIDVALIDITY, never the \Seen flag (except to pick the starting point when there is neither a
// checkpoint nor a log). The plan is written to the checkpoint (in the store) before any work,
// so a crash from here on leaves the work listed as pending (docs/collector.md "How it decides what is new").
import type { CheckpointRecord, CollectorStore } from "../store/types";
import { localError } from "./group-commit";
import type { Say } from "../shared/log";
import { SANDBOX_IMAP_NAME } from "../sandbox/uidvalidity";
import type { Mailbox, MailboxInfo } from "./imap-mailbox";
import type { CollectorLog } from "./log";
import { PendingRetries, retriesOf, setRetries } from "./pending";
import { counted } from "../shared/words";

export interface PlanOptions {
  /** the checkpoint's key: this mailbox into this LOG_DIR (lib/store/keys.ts) */
  key: string;
  mailboxName: string;
  store: CollectorStore;
  log: CollectorLog;
  /** --all: take every message not logged yet */
  all: boolean;
  out: Say;
}

export interface CheckPlan {
  uidValidity: number;
  /** UIDs to fetch, ascending, none of them in the log yet */
  work: number[];
  /** the checkpoint as written for this check; group commit keeps it up to date */
  state: CheckpointRecord;
}

/** Where a check starts: everything above `lastUid`, plus `pending`. */
interface Start {
  lastUid: number;
  pending: number[];
  dedupeUpTo: number;
}

export async function planCheck(mailbox: Mailbox, o: PlanOptions): Promise<CheckPlan> {
  const info = await mailbox.open();
  const uv = info.uidValidity;
  const cp = await o.store.readCheckpoint(o.key).catch((err) => Promise.reject(localError(err, "read the checkpoint", "STATE_DIR")));
  const start = await startingPoint(mailbox, o, info, cp);
  const fresh = await mailbox.search({ above: start.lastUid });
  const top = Math.max(start.lastUid, maxOf(fresh));
  const candidates = union(start.pending, fresh);
  const logged = await o.log.logged(uv, candidates);
  const work = candidates.filter((uid) => !logged.has(uid));
  // extra data (failed fetches among it) counts across checks of the same mailbox (pending.ts)
  const extra = cp?.uidValidity === uv && cp.extra ? { extra: { ...cp.extra } } : {};
  // digests are looked up only when the logs may hold entries of an earlier UIDVALIDITY
  const dedupeUpTo = work.length && !o.log.holdsNothing() ? start.dedupeUpTo : 0;
  const state: CheckpointRecord = { key: o.key, uidValidity: uv, lastUid: top, pending: work, dedupeUpTo, ...extra };
  setRetries(state, cp?.uidValidity === uv ? new PendingRetries(retriesOf(cp), work).snapshot() : undefined);
  if (!cp || JSON.stringify(cp) !== JSON.stringify(state)) {
    await o.log.commit(state);
  }
  return { uidValidity: uv, work, state };
}

async function startingPoint(mailbox: Mailbox, o: PlanOptions, info: MailboxInfo, cp: CheckpointRecord | null): Promise<Start> {
  const uv = info.uidValidity;
  if (cp && cp.uidValidity === uv) return await resume(mailbox, o, cp);
  if (cp) return await rescan(mailbox, o, cp.uidValidity, info);
  // no checkpoint, but the log knows this mailbox: carry on after what it holds
  const inLog = await o.log.maxUid(uv);
  if (inLog > 0 && !o.all) return { lastUid: inLog, pending: [], dedupeUpTo: 0 };
  return await firstRun(mailbox, o);
}

/** The same mailbox as last time. A checkpoint that lags behind the log (kill -9 between append
 *  and checkpoint write) is harmless: everything above lastUid and everything pending is looked
 *  at again, and whatever the log already holds for this UIDVALIDITY is skipped by UID. */
async function resume(mailbox: Mailbox, o: PlanOptions, cp: CheckpointRecord): Promise<Start> {
  if (!o.all) return { lastUid: cp.lastUid, pending: cp.pending, dedupeUpTo: cp.dedupeUpTo };
  const all = await mailbox.search({ all: true });
  return {
    lastUid: cp.lastUid,
    pending: union(cp.pending, all.filter((uid) => uid <= cp.lastUid)),
    dedupeUpTo: Math.max(cp.dedupeUpTo, cp.lastUid),
  };
}

/** The server renumbered the mailbox: every message again, those logged before skipped by digest. */
async function rescan(mailbox: Mailbox, o: PlanOptions, before: number, info: MailboxInfo): Promise<Start> {
  const all = await mailbox.search({ all: true });
  const uv = info.uidValidity;
  const messages = counted(all.length, "message");
  o.out(
    info.server === SANDBOX_IMAP_NAME
      ? // every start of the in-memory sandbox is a new, empty mailbox: the normal case there
        `The sandbox's in-memory ${o.mailboxName} is new since the last run (UIDVALIDITY ${uv}, as at every sandbox start): reading its ${messages}.`
      : `UIDVALIDITY of ${o.mailboxName} changed (${before} → ${uv}): the server renumbered the mailbox. ` +
          `Re-scanning its ${messages}; those already logged (same source, by sha256) are skipped.`,
    "uidvalidity",
    { before, uidValidity: uv, messages: all.length },
  );
  const lastUid = maxOf(all);
  return { lastUid, pending: all, dedupeUpTo: lastUid };
}

/** Nothing known about this mailbox: the unread messages (or, with --all, every one). */
async function firstRun(mailbox: Mailbox, o: PlanOptions): Promise<Start> {
  const all = await mailbox.search({ all: true });
  const lastUid = maxOf(all);
  if (o.all) {
    o.out(`--all: ${counted(all.length, "message")} in ${o.mailboxName}; taking every one not logged yet.`);
    return { lastUid, pending: all, dedupeUpTo: lastUid };
  }
  const pending = await mailbox.search({ unseen: true });
  o.out(
    `First run: ${counted(pending.length, "unread message")} to collect in ${o.mailboxName} ` +
      `(of ${all.length}). From now on every new message counts, read or not; --all takes the older ones too.`,
  );
  return { lastUid, pending, dedupeUpTo: lastUid };
}

function maxOf(values: number[]): number {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return max;
}

function union(a: number[], b: number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}
