// Ticket numbers and the one-server-per-STATE_DIR lock.
//
// Numbers are handed out from blocks reserved in STATE_DIR/tickets.json: before the first
// number of a block is issued, the block's end is written to a temporary file, fsync'd and
// renamed over the state file (then the directory is fsync'd). A crash therefore loses at
// most the rest of a block (a gap) and can never make a number come back. Issuing is
// synchronous, so concurrent requests in one process can never get the same number.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

export const FIRST_TICKET = 10001;
const STATE_FILE = "tickets.json";
const LOCK_FILE = "server.lock";

export class StateError extends Error {}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically and durably (temp file, fsync, rename, fsync dir). */
export function writeFileDurably(dir: string, name: string, data: string): void {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", 0o640);
  try {
    const buf = Buffer.from(data, "utf8");
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  fsyncDir(dir);
}

export class TicketAllocator {
  private next: number;
  private reservedUpTo: number;
  private readonly file: string;

  /** @param blockSize numbers reserved per fsync; a crash can skip at most this many */
  constructor(private readonly dir: string, private readonly blockSize = 100) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, STATE_FILE);
    this.reservedUpTo = this.readReserved();
    this.next = Math.max(this.reservedUpTo + 1, FIRST_TICKET);
  }

  private readReserved(): number {
    let raw: string;
    try {
      raw = readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return FIRST_TICKET - 1;
      throw new StateError(`cannot read the ticket state ${this.file}: ${(err as Error).message}`);
    }
    let reserved: unknown;
    try {
      reserved = (JSON.parse(raw) as { reservedUpTo?: unknown }).reservedUpTo;
    } catch {
      reserved = undefined;
    }
    if (typeof reserved !== "number" || !Number.isSafeInteger(reserved) || reserved < 0) {
      // Never guess: a guessed number could repeat an issued ticket.
      throw new StateError(
        `the ticket state ${this.file} is damaged (${JSON.stringify(raw.slice(0, 80))}) — it must hold {"reservedUpTo": N} with N at least the highest ticket issued; fix it by hand (a higher N is always safe)`,
      );
    }
    return reserved;
  }

  /** The next ticket number, as its decimal string. */
  issue(): string {
    if (this.next > this.reservedUpTo) {
      const upTo = this.next + this.blockSize - 1;
      writeFileDurably(this.dir, STATE_FILE, JSON.stringify({ reservedUpTo: upTo }) + "\n");
      this.reservedUpTo = upTo;
    }
    return String(this.next++);
  }

  /**
   * On a clean stop, gives back the unused rest of the block, so that a normal restart
   * continues without a gap (only a crash leaves one).
   */
  close(): void {
    if (this.reservedUpTo >= this.next) {
      writeFileDurably(this.dir, STATE_FILE, JSON.stringify({ reservedUpTo: this.next - 1 }) + "\n");
      this.reservedUpTo = this.next - 1;
    }
  }
}

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes STATE_DIR/server.lock (created with O_EXCL, holding our pid). A lock whose process is
 * gone (kill -9, power loss) is stale and taken over; a live one makes this throw a StateError
 * that says which process holds it. Returns the function that releases it.
 */
export function acquireStateLock(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o640);
      writeSync(fd, JSON.stringify(me) + "\n");
      fsyncSync(fd);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          const held = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
          if (held.pid === process.pid) unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new StateError(`cannot create the lock ${path}: ${(err as Error).message} — check that STATE_DIR=${dir} is writable`);
      }
    }
    let held: LockInfo | null = null;
    try {
      held = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
    } catch {
      held = null; // empty or half-written: its writer died between create and write
    }
    if (held && typeof held.pid === "number" && held.pid !== process.pid && isAlive(held.pid) && (!held.host || held.host === hostname())) {
      throw new StateError(
        `another Mailer server (pid ${held.pid}, started ${held.started}) is already using STATE_DIR=${dir} — ` +
          `stop it first, or give this server its own STATE_DIR (two servers on one STATE_DIR could issue the same ticket number)`,
      );
    }
    if (held && held.host && held.host !== hostname()) {
      throw new StateError(
        `STATE_DIR=${dir} is locked by a Mailer server on host ${held.host} (pid ${held.pid}) — this host cannot check whether it still runs; stop it, or delete ${path} if it is gone`,
      );
    }
    // Stale: the holder is gone. Remove and try again (O_EXCL settles a race with another starter).
    try {
      unlinkSync(path);
    } catch {
      /* someone else removed it */
    }
  }
  throw new StateError(`cannot take the lock ${path} — another server keeps starting on STATE_DIR=${dir}`);
}
