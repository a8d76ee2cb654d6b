// What we do to nodemailer's SMTP pool ourselves, because nodemailer does not (issue #13):
//
// - StepDeadline: every SMTP step — the greeting, each command's complete reply, the whole DATA
//   (message and final reply) — ends within SMTP_TIMEOUT. nodemailer's socketTimeout fires on
//   silence only, so a server trickling one byte a second held a request forever. A connection
//   stuck in one step is failed the way nodemailer fails on its own timeouts, with a code of its
//   own (STEP_TIMEOUT: not one nodemailer counts as transient, so the message is not requeued
//   onto another connection to trickle again): the message fails, the connection is closed.
// - WarmPool: a connection that has sent POOL_MAX_MESSAGES is replaced in the background — the
//   new one connects, greets, upgrades and logs in while the old one still serves — so a warm
//   pool never makes a request wait for a new connection (nodemailer's maxMessages retires a
//   connection on the request's path: every 100th message paid for a whole new session).
//
// Both read nodemailer's pool internals (10.6, pinned in package.json): SMTPPool._connections,
// PoolResource.{connection, messages, available, connect, emit} and SMTPConnection.
// {_responseActions, _destroyed, _onError}. tests/server/smtp-pool.test.ts fails if they change.

/** The error code of a step that took too long (describeSmtpError reads it as a timeout). */
export const STEP_TIMEOUT = "ESTEPTIMEOUT";

/** The part of nodemailer's SMTPConnection we look at. */
interface SmtpConnectionLike {
  /** one entry per reply awaited, in order; its head is the step in progress */
  _responseActions?: unknown[];
  _destroyed?: boolean;
  _onError?: (err: Error, type: string, data: false, command: string) => void;
}

/** The part of nodemailer's PoolResource we use. */
export interface PoolResourceLike {
  connection?: SmtpConnectionLike | false;
  messages: number;
  available: boolean;
  _closed?: boolean;
  connect(callback: (err?: Error | null) => void): void;
  close(): void;
  emit(event: string): boolean;
  _startIdleTimer?: () => void;
}

/** The part of nodemailer's SMTPPool we use. */
export interface SmtpPoolLike {
  _connections: PoolResourceLike[];
  _closed: boolean;
  _createConnection(): PoolResourceLike;
  close(options?: { force?: boolean }): void;
}

/** Fails every pooled connection that spends longer than `stepMs` in one SMTP step. */
export class StepDeadline {
  private readonly seen = new WeakMap<object, { head: unknown; since: number }>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly pool: () => SmtpPoolLike | undefined,
    readonly stepMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Looks at every connection once; returns how many it ended. */
  sweep(): number {
    let ended = 0;
    for (const resource of this.pool()?._connections ?? []) {
      const c = resource.connection;
      if (!c || c._destroyed) continue;
      const head = c._responseActions?.[0];
      if (head === undefined) {
        this.seen.delete(c); // waiting for nothing: an idle pooled connection has no deadline
        continue;
      }
      const t = this.now();
      const last = this.seen.get(c);
      if (!last || last.head !== head) {
        this.seen.set(c, { head, since: t });
        continue;
      }
      if (t - last.since < this.stepMs) continue;
      c._onError?.(new Error(`no complete reply within ${this.stepMs} ms`), STEP_TIMEOUT, false, "CONN");
      ended++;
    }
    return ended;
  }

  /** Sweeps every tenth of the step (50 ms – 1 s): a stuck step ends within 1.1 × stepMs. */
  start(): void {
    const every = Math.min(1000, Math.max(50, Math.floor(this.stepMs / 10)));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Replaces connections that have sent `maxMessages` with fresh ones, warmed up before the swap. */
export class WarmPool {
  private readonly replacing = new Set<PoolResourceLike>();
  private warmedUp = 0;

  constructor(
    private readonly pool: () => SmtpPoolLike | undefined,
    readonly maxMessages: number,
  ) {}

  /** Connections warmed up in the background so far (for tests and the bench). */
  get warmed(): number {
    return this.warmedUp;
  }

  /** Call after each message: starts the replacement of worn connections, retires replaced idle ones. */
  maintain(): void {
    const pool = this.pool();
    if (!pool || pool._closed) return;
    for (const old of [...pool._connections]) {
      if (old._closed || old.messages < this.maxMessages) continue;
      if (!this.replacing.has(old)) this.replace(pool, old);
    }
  }

  private replace(pool: SmtpPoolLike, old: PoolResourceLike): void {
    this.replacing.add(old);
    const fresh = pool._createConnection();
    fresh.available = false; // not handed a message before its session is ready
    fresh.connect((err) => {
      if (err || fresh._closed || pool._closed) {
        // the pool removes a failed resource itself; the old one keeps serving and is tried again later
        this.replacing.delete(old);
        return;
      }
      this.warmedUp++;
      this.retire(old);
      fresh.available = true;
      fresh._startIdleTimer?.();
      fresh.emit("available");
    });
  }

  /** Closes `old` once it is not in the middle of a message. */
  private retire(old: PoolResourceLike): void {
    if (old._closed) return void this.replacing.delete(old);
    if (!old.available) {
      // in the middle of a message: look again in a moment (its own send ends within the deadlines)
      const t = setTimeout(() => this.retire(old), 20);
      (t as { unref?: () => void }).unref?.();
      return;
    }
    old.available = false;
    old.close();
    this.replacing.delete(old);
  }
}
