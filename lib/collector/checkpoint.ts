// The collector's checkpoint in STATE_DIR: which mailbox (account + UIDVALIDITY), the highest
// UID looked at, and the UIDs at or below it still to be logged. Written atomically (temp
// file, fsync, rename, fsync of the directory), so a crash leaves the old or the new one,
// never a torn file. The logs stay the record of what is done (lib/collector/log.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MailerError, messageOf } from "../shared/errors";
import { acquirePidLock, replaceFileAsync, writeFileDurably } from "../shared/state-files";
import { isRetries, type Retries } from "./pending";

export const CHECKPOINT_FILE = "collector-checkpoint.json";
export const LOCK_FILE = "collector.lock";

export interface Checkpoint {
  /** login@host:port/INBOX — a checkpoint for another account is ignored */
  account: string;
  uidValidity: number;
  /** every UID ≤ lastUid is either logged, or listed in `pending`, or deliberately not taken */
  lastUid: number;
  /** UIDs ≤ lastUid still to be logged, ascending */
  pending: number[];
  /** pending UIDs up to this one are skipped when the log already holds the same source
   *  (sha256) under another UIDVALIDITY — set by a re-scan after UIDVALIDITY changed, by
   *  --all and by a first run; 0 = none */
  dedupeUpTo: number;
  /** pending UIDs whose fetch failed (transport, not the message): attempts and last error,
   *  so a message the server never delivers ends in one error entry (./pending.ts) */
  retries?: Retries;
}

export function readCheckpoint(stateDir: string): Checkpoint | null {
  const path = join(stateDir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new MailerError("state", `cannot read the checkpoint ${path}: ${(err as Error).message} — check that STATE_DIR=${stateDir} is readable`);
  }
  const value = safeJson(text);
  if (!isCheckpoint(value)) {
    // Only ever replaced by rename, so this is not a torn write but someone's edit. The logs
    // still say what is done, so start from them instead of refusing to run.
    return null;
  }
  return value;
}

export function writeCheckpoint(stateDir: string, checkpoint: Checkpoint): void {
  writeFileDurably(stateDir, CHECKPOINT_FILE, JSON.stringify(checkpoint) + "\n");
}

/**
 * The same replacement off the event loop, for the checkpoints written while a backlog is
 * collected. The temp file is fsync'd before the rename, so whichever name survives an OS
 * crash holds a whole checkpoint (never an empty file: that would lose `pending`). The
 * directory is not fsync'd (that is what would make the rename itself durable): an OS crash
 * may roll these back to an earlier one of the same check, or to the one writeCheckpoint wrote
 * durably when the check began — harmless, because each of those lists as pending every
 * message it does not claim, every UID a later one claims is already fsync'd in the log (the
 * caller syncs the log first), and the log is reconciled at start-up.
 */
export async function writeCheckpointAsync(stateDir: string, checkpoint: Checkpoint): Promise<void> {
  await replaceFileAsync(stateDir, CHECKPOINT_FILE, JSON.stringify(checkpoint) + "\n");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isCheckpoint(v: unknown): v is Checkpoint {
  const c = v as Checkpoint | null;
  return (
    !!c && typeof c === "object" && typeof c.account === "string" && Number.isInteger(c.uidValidity) &&
    Number.isInteger(c.lastUid) && c.lastUid >= 0 && Array.isArray(c.pending) &&
    c.pending.every((n) => Number.isInteger(n) && n > 0) && Number.isInteger(c.dedupeUpTo) &&
    (c.retries === undefined || isRetries(c.retries))
  );
}

/** One collector per STATE_DIR: two would log every message twice. */
export function acquireCollectorLock(stateDir: string): () => void {
  try {
    return acquirePidLock(stateDir, { file: LOCK_FILE, holder: "Mailer collector", why: "two collectors would log every message twice", error: Error });
  } catch (err) {
    throw err instanceof MailerError ? err : new MailerError("state", messageOf(err));
  }
}
