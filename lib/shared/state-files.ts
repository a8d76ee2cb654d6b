// Files in STATE_DIR that must survive a crash: durable replacement (temp file, fsync, rename,
// fsync of the directory — a crash leaves the old or the new content, never a torn file) and
// the pid lock that keeps one server, or one collector, per STATE_DIR.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

/** Replaces DIR/NAME with `data` atomically and durably; `mode` 0o600 for a file holding a secret. */
export function writeFileDurably(dir: string, name: string, data: string, mode = 0o640): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    const buf = Buffer.from(data, "utf8");
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  // the rename itself is durable only once the directory is
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * The same replacement off the event loop, without the directory fsync: the temp file is
 * fsync'd before the rename, so whichever name survives an OS crash holds whole content, but
 * an OS crash may roll the rename back to the previous version. For files where an older
 * version is still correct (the collector's intermediate checkpoints).
 */
export async function replaceFileAsync(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const file = await open(tmp, "w", 0o640);
  try {
    await file.writeFile(data, "utf8");
    await file.datasync();
  } finally {
    await file.close();
  }
  await rename(tmp, join(dir, name));
}

interface LockInfo {
  pid: number;
  host?: string;
  started?: string;
}

export interface PidLockOptions {
  /** file name inside the directory, e.g. "server.lock" */
  file: string;
  /** who holds it, for messages: "Mailer server" */
  holder: string;
  /** what two holders at once would break: "two servers could issue the same ticket number" */
  why: string;
  /** the error class the caller reports as a start-up failure */
  error: new (message: string) => Error;
}

/**
 * Takes DIR/FILE with O_EXCL, holding our pid and host. A lock whose process is gone
 * (kill -9) or that is empty (its writer died between create and write) is taken over; a
 * live holder, or one on another host (whose liveness cannot be checked), is refused.
 * Returns the release function (idempotent; removes only our own lock).
 */
export function acquirePidLock(dir: string, o: PidLockOptions): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, o.file);
  const me: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o640);
      writeSync(fd, JSON.stringify(me) + "\n");
      fsyncSync(fd);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (readLock(path)?.pid === process.pid) {
          try {
            unlinkSync(path);
          } catch {} // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new o.error(`cannot create the lock ${path}: ${(err as Error).message} — check that STATE_DIR=${dir} is writable`);
      }
    }
    const held = readLock(path);
    if (held && held.host && held.host !== hostname()) {
      throw new o.error(
        `STATE_DIR=${dir} is locked by a ${o.holder} on host ${held.host} (pid ${held.pid}) — this host cannot check whether it still runs; stop it, or delete ${path} if it is gone`,
      );
    }
    if (held && held.pid !== process.pid && isAlive(held.pid)) {
      const since = held.started ? `, started ${held.started}` : "";
      throw new o.error(`another ${o.holder} (pid ${held.pid}${since}) is already using STATE_DIR=${dir} — stop it first (${o.why})`);
    }
    // Stale: the holder is gone. Remove and try again (O_EXCL settles a race with another starter).
    try {
      unlinkSync(path);
    } catch {} // someone else removed it
  }
  throw new o.error(`cannot take the lock ${path} — another ${o.holder} keeps starting on STATE_DIR=${dir}`);
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
    return v && typeof v.pid === "number" ? v : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
