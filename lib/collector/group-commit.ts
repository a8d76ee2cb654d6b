// Group commit: entries go to the log as each batch is parsed, and every so often (a number of
// messages or a time, whichever first) both logs are fdatasync'd and only then are the new
// entries indexed and the checkpoint moved, in one store transaction — in the background,
// while fetching goes on. A checkpoint therefore never claims a message the disk does not hold
// (docs/collector.md "How it decides what is new", exactly once).
import { MailerError, messageOf } from "../shared/errors";
import type { CheckpointRecord } from "../store/types";
import type { CollectorLog } from "./log";
import { setRetries, type PendingRetries } from "./pending";

export interface GroupCommitOptions {
  log: CollectorLog;
  /** the check's checkpoint; `pending` and `dedupeUpTo` are brought up to date at each commit */
  state: CheckpointRecord;
  /** the UIDs of this check not logged yet, ascending */
  pending: () => number[];
  /** failed fetches of pending UIDs, kept in the checkpoint (pending.ts) */
  retries: PendingRetries;
  every: number;
  ms: number;
  /** after each checkpoint write */
  onCommit?: () => void;
}

/** Writing the logs or the store failed: the machine's problem, not the mail server's. */
export function localError(err: unknown, what: string, dir: string): MailerError {
  if (err instanceof MailerError) return err;
  return new MailerError("local", `cannot ${what}: ${messageOf(err)} — check free space and permissions of ${dir}`);
}

export class GroupCommit {
  /** messages logged (or skipped) since the last commit started */
  private written = 0;
  private lastCommit = Date.now();
  private committing: Promise<void> | null = null;
  private failed: unknown = null;

  constructor(private readonly o: GroupCommitOptions) {}

  /** `n` more messages are in the log (not yet on disk); commits when one is due. */
  wrote(n: number): void {
    this.written += n;
    if (this.committing || (this.written < this.o.every && Date.now() - this.lastCommit < this.o.ms)) return;
    this.committing = this.commit().then(
      () => void (this.committing = null),
      (err) => void ((this.failed = err), (this.committing = null)),
    );
  }

  /** A background commit failed: nothing more may be written. */
  throwIfFailed(): void {
    if (this.failed) throw this.failed;
  }

  /** Waits for the commit in flight, then commits what is left (unless a commit failed). */
  async finish(): Promise<void> {
    await this.committing;
    if (!this.failed && (this.written > 0 || this.o.retries.dirty)) await this.commit();
  }

  /** Claims done exactly what is in the log at this moment — after fsync'ing the log. */
  private async commit(): Promise<void> {
    const { state } = this.o;
    state.pending = this.o.pending();
    if (state.pending.length === 0) state.dedupeUpTo = 0;
    setRetries(state, this.o.retries.snapshot());
    this.written = 0;
    this.lastCommit = Date.now();
    await this.o.log.commit({ ...state, pending: state.pending });
    this.o.onCommit?.();
  }
}
