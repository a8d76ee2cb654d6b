// Messages the server listed but has not delivered yet, and how often it was tried. A transport
// failure (connection cut mid-FETCH, a UID left out of the FETCH reply or answered without a
// source) is no verdict on the message: it stays pending and is fetched again at the next check,
// alone. Only after MAX_FETCH_ATTEMPTS tries, across checks and reconnects, does it get one error
// entry naming the UID and the last failure — so nothing waits forever and nothing vanishes.
// The record lives in the store's checkpoint as `extra.retries` (CheckpointRecord), keyed by UID.
import type { CheckpointRecord } from "../store/types";

/** Tries per message before it is logged as never delivered (docs/collector.md "When the server fails"). */
export const MAX_FETCH_ATTEMPTS = 5;

export interface Retry {
  /** fetches of this UID that failed so far */
  attempts: number;
  /** what went wrong the last time */
  lastError: string;
}

/** UID (as a string: JSON keys) → its failed fetches */
export type Retries = Record<string, Retry>;

export class PendingRetries {
  private readonly byUid = new Map<number, Retry>();
  /** changed since the last snapshot: the checkpoint needs writing */
  dirty = false;

  /** Keeps the record of the UIDs still to be done; anything else is finished. */
  constructor(initial: Retries | undefined, work: number[]) {
    const wanted = new Set(work);
    for (const [key, retry] of Object.entries(initial ?? {})) {
      const uid = Number(key);
      if (wanted.has(uid) && isRetry(retry)) this.byUid.set(uid, { ...retry });
    }
  }

  /** Failed before: fetched alone, so one message the server chokes on cannot hold up others. */
  failedBefore(uid: number): boolean {
    return this.byUid.has(uid);
  }

  /** Records one failed fetch; "give up" once MAX_FETCH_ATTEMPTS are spent. */
  failed(uid: number, why: string): "retry" | "give up" {
    const attempts = (this.byUid.get(uid)?.attempts ?? 0) + 1;
    this.byUid.set(uid, { attempts, lastError: why });
    this.dirty = true;
    return attempts >= MAX_FETCH_ATTEMPTS ? "give up" : "retry";
  }

  /** The reason of the error entry for a message given up on. */
  givenUpReason(uid: number): string {
    const r = this.byUid.get(uid);
    return `the server listed UID ${uid} but did not deliver it in ${r?.attempts ?? MAX_FETCH_ATTEMPTS} attempts (last: ${r?.lastError ?? "unknown"}); look at it in a mail client`;
  }

  /** The message has an entry now (logged, or given up on). */
  done(uid: number): void {
    if (this.byUid.delete(uid)) this.dirty = true;
  }

  /** For the checkpoint: the record of the UIDs still pending. */
  snapshot(): Retries | undefined {
    this.dirty = false;
    if (this.byUid.size === 0) return undefined;
    const out: Retries = {};
    for (const [uid, retry] of [...this.byUid].sort((a, b) => a[0] - b[0])) out[String(uid)] = { ...retry };
    return out;
  }
}

export function isRetries(v: unknown): v is Retries {
  return !!v && typeof v === "object" && !Array.isArray(v) && Object.entries(v as object).every(([k, r]) => /^[1-9]\d*$/.test(k) && isRetry(r));
}

function isRetry(r: unknown): r is Retry {
  const x = r as Retry | null;
  return !!x && Number.isInteger(x.attempts) && x.attempts > 0 && typeof x.lastError === "string";
}

/** The retries recorded in a checkpoint (`extra.retries`); anything malformed counts as none. */
export function retriesOf(cp: CheckpointRecord | null | undefined): Retries | undefined {
  const r = cp?.extra?.retries;
  return isRetries(r) ? r : undefined;
}

/** Puts RETRIES into the checkpoint's `extra` (or takes them out), keeping any other extra data. */
export function setRetries(cp: CheckpointRecord, retries: Retries | undefined): void {
  const { retries: _old, ...rest } = cp.extra ?? {};
  const extra: Record<string, unknown> = retries ? { ...rest, retries } : rest;
  if (Object.keys(extra).length) cp.extra = extra;
  else delete cp.extra;
}
