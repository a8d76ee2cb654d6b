// Planning one check: which UIDs to take, from where. What is new is IMAP UIDs under one
// UIDVALIDITY, never the \Seen flag (except to pick the starting point when there is neither a
// checkpoint nor a log). The plan is written to the checkpoint before any work, so a crash
// from here on leaves the work listed as pending (README "How it decides what is new").
import { MailerError, messageOf } from "../shared/errors";
import type { Say } from "../shared/log";
import { readCheckpoint, writeCheckpoint, type Checkpoint } from "./checkpoint";
import type { Mailbox, MailboxInfo } from "./imap-mailbox";
import { SANDBOX_IMAP_NAME } from "../sandbox/uidvalidity";
import type { CollectorLog } from "./log";
import { PendingRetries } from "./pending";

export interface PlanOptions {
  account: string;
  mailboxName: string;
  stateDir: string;
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
  state: Checkpoint;
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
  let cp = readCheckpointLocal(o.stateDir);
  if (cp && cp.account !== o.account) cp = null;
  const start = await startingPoint(mailbox, o, info, cp);
  const fresh = await mailbox.search({ above: start.lastUid });
  const top = Math.max(start.lastUid, maxOf(fresh));
  const work = union(start.pending, fresh).filter((uid) => !o.log.has(uv, uid));
  // failed fetches count across checks of the same mailbox (pending.ts)
  const retries = cp && cp.uidValidity === uv ? new PendingRetries(cp.retries, work).snapshot() : undefined;
  const state: Checkpoint = { account: o.account, uidValidity: uv, lastUid: top, pending: work, dedupeUpTo: work.length ? start.dedupeUpTo : 0, ...(retries ? { retries } : {}) };
  if (!cp || JSON.stringify(cp) !== JSON.stringify(state)) saveCheckpoint(o.stateDir, state);
  return { uidValidity: uv, work, state };
}

async function startingPoint(mailbox: Mailbox, o: PlanOptions, info: MailboxInfo, cp: Checkpoint | null): Promise<Start> {
  const uv = info.uidValidity;
  if (cp && cp.uidValidity === uv) return await resume(mailbox, o, cp);
  if (cp) return await rescan(mailbox, o, cp.uidValidity, info);
  // no checkpoint, but the log knows this mailbox: carry on after what it holds
  if (o.log.maxUid(uv) > 0 && !o.all) return { lastUid: o.log.maxUid(uv), pending: [], dedupeUpTo: 0 };
  return await firstRun(mailbox, o);
}

/** The same mailbox as last time. A checkpoint that lags behind the log (kill -9 between append
 *  and checkpoint write) is harmless: everything above lastUid and everything pending is looked
 *  at again, and whatever the log already holds for this UIDVALIDITY is skipped by UID. */
async function resume(mailbox: Mailbox, o: PlanOptions, cp: Checkpoint): Promise<Start> {
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
  const messages = `${all.length} message${all.length === 1 ? "" : "s"}`;
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
    o.out(`--all: ${all.length} message${all.length === 1 ? "" : "s"} in ${o.mailboxName}; taking every one not logged yet.`);
    return { lastUid, pending: all, dedupeUpTo: lastUid };
  }
  const pending = await mailbox.search({ unseen: true });
  o.out(
    `First run: ${pending.length} unread message${pending.length === 1 ? "" : "s"} to collect in ${o.mailboxName} ` +
      `(of ${all.length}). From now on every new message counts, read or not; --all takes the older ones too.`,
  );
  return { lastUid, pending, dedupeUpTo: lastUid };
}

/** An unreadable checkpoint while working stops the collector like any local failure. */
function readCheckpointLocal(stateDir: string): Checkpoint | null {
  try {
    return readCheckpoint(stateDir);
  } catch (err) {
    throw new MailerError("local", messageOf(err));
  }
}

function saveCheckpoint(stateDir: string, state: Checkpoint): void {
  try {
    writeCheckpoint(stateDir, state);
  } catch (err) {
    throw new MailerError("local", `cannot write the checkpoint in STATE_DIR=${stateDir}: ${messageOf(err)} — check free space and permissions`);
  }
}

function maxOf(values: number[]): number {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return max;
}

function union(a: number[], b: number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}
