// Ticket numbers and the one-server-per-STATE_DIR lock.
//
// Numbers are handed out from blocks reserved in STATE_DIR/tickets.json: before the first
// number of a block is issued, the block's end is written to a temporary file, fsync'd and
// renamed over the state file (then the directory is fsync'd). A crash therefore loses at
// most the rest of a block (a gap) and can never make a number come back. Issuing is
// synchronous, so concurrent requests in one process can never get the same number.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MailerError } from "../shared/errors";
import { acquirePidLock, writeFileDurably } from "../shared/state-files";

export const FIRST_TICKET = 10001;
const STATE_FILE = "tickets.json";
const LOCK_FILE = "server.lock";

/** acquirePidLock reports through an error class: a refused lock is a MailerError "state". */
class LockRefused extends MailerError {
  constructor(message: string) {
    super("state", message);
  }
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
      throw new MailerError("state", `cannot read the ticket state ${this.file}: ${(err as Error).message}`);
    }
    let reserved: unknown;
    try {
      reserved = (JSON.parse(raw) as { reservedUpTo?: unknown }).reservedUpTo;
    } catch {
      reserved = undefined;
    }
    if (typeof reserved !== "number" || !Number.isSafeInteger(reserved) || reserved < 0) {
      // Never guess: a guessed number could repeat an issued ticket.
      throw new MailerError(
        "state",
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

/** One server per STATE_DIR: a second one refuses to start and says why. */
export function acquireStateLock(dir: string): () => void {
  return acquirePidLock(dir, { file: LOCK_FILE, holder: "Mailer server", why: "two servers on one STATE_DIR could issue the same ticket number", error: LockRefused });
}
