// The collector's checkpoint in STATE_DIR: which mailbox (account + UIDVALIDITY), the highest
// UID looked at, and the UIDs at or below it still to be logged. Written atomically (temp
// file, fsync, rename, fsync of the directory), so a crash leaves the old or the new one,
// never a torn file. The logs stay the record of what is done; see lib/log-index.ts.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

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
}

export class CheckpointError extends Error {}

export function readCheckpoint(stateDir: string): Checkpoint | null {
  const path = join(stateDir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CheckpointError(`cannot read the checkpoint ${path}: ${(err as Error).message} — check that STATE_DIR=${stateDir} is readable`);
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
  writeFileAtomic(stateDir, CHECKPOINT_FILE, JSON.stringify(checkpoint) + "\n");
}

export function writeFileAtomic(dir: string, name: string, data: string): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  const temp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openSync(temp, "w", 0o640);
  try {
    const buf = Buffer.from(data, "utf8");
    let offset = 0;
    while (offset < buf.length) offset += writeSync(fd, buf, offset, buf.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  // the rename itself is durable only once the directory is
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
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
    c.pending.every((n) => Number.isInteger(n) && n > 0) && Number.isInteger(c.dedupeUpTo)
  );
}

/**
 * One collector per STATE_DIR: two would log every message twice. The lock holds our pid
 * and host; a lock left by a process that is gone (kill -9) is taken over.
 */
export function acquireCollectorLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, LOCK_FILE);
  const me = JSON.stringify({ pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o640);
      writeSync(fd, me);
      fsyncSync(fd);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8") === me) unlinkSync(path);
        } catch {}
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new CheckpointError(`cannot create the lock ${path}: ${(err as Error).message} — check that STATE_DIR=${stateDir} is writable`);
      }
    }
    const held = safeJson(existsSync(path) ? readFileSync(path, "utf8") : "null") as { pid?: number; host?: string } | null;
    if (held && typeof held.pid === "number") {
      if (held.host !== hostname()) {
        throw new CheckpointError(`STATE_DIR=${stateDir} is in use by a Mailer collector on host ${held.host} (pid ${held.pid}) — stop it, or delete ${path} if it is gone`);
      }
      if (held.pid !== process.pid && isAlive(held.pid)) {
        throw new CheckpointError(`another Mailer collector (pid ${held.pid}) already works on STATE_DIR=${stateDir} — two would log every message twice; stop it first`);
      }
    }
    // stale (its process is gone) or unreadable: take it over
    try {
      unlinkSync(path);
    } catch {}
  }
  throw new CheckpointError(`cannot take the lock ${path} — another collector keeps starting on STATE_DIR=${stateDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
