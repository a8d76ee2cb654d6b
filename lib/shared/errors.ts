// One error type for the whole of lib/: a kind that says what went wrong and, through one table,
// which exit code a program ends with. lib/ throws or returns these; only entry points exit.

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNREACHABLE: 3, INTERRUPTED: 130 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Every kind of failure a program can end with, and its exit code. */
export const ERROR_EXIT = {
  /** a wrong command line */
  usage: EXIT.USAGE,
  /** a missing or malformed configuration key, or a setting the servers refuse */
  config: EXIT.USAGE,
  /** STATE_DIR cannot be used: locked by another process, unreadable, unsafe */
  state: EXIT.USAGE,
  /** a login the server refused */
  auth: EXIT.USAGE,
  /** a certificate that could not be verified, or a TLS mode the server does not speak */
  tls: EXIT.USAGE,
  /** the logs or local state could not be written or read while working */
  local: EXIT.REFUSED,
  /** a request or message refused (by the server, or by the client's own check) */
  refused: EXIT.REFUSED,
  /** a server that cannot be reached or does not answer in time */
  unreachable: EXIT.UNREACHABLE,
  /** the message parser cannot run at all (its worker will not start) */
  parser: EXIT.REFUSED,
} as const;

export type ErrorKind = keyof typeof ERROR_EXIT;

export class MailerError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MailerError";
    this.kind = kind;
  }
  get exitCode(): number {
    return ERROR_EXIT[this.kind];
  }
}

export function isMailerError(err: unknown, kind?: ErrorKind): err is MailerError {
  return err instanceof MailerError && (kind === undefined || err.kind === kind);
}

/** The message of anything thrown, without a stack. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
