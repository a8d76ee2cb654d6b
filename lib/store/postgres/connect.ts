// Connecting to PostgreSQL with Bun's SQL client, built explicitly from STATE_DATABASE_URL:
// Bun's default `sql` reads DATABASE_URL and PG* variables by itself, and even `new SQL(url)`
// takes the database from PGDATABASE over the URL's — so every part of the URL is passed on its
// own. Also here: what a failure means for a person (a start-up error with the right exit code,
// or a StoreError while working), and the URL without its password, for messages.
import { SQL } from "bun";
import { MailerError, messageOf } from "../../shared/errors";
import { StoreError } from "../types";

export interface PgTarget {
  /** postgres://user@host:port/db — no password: safe for messages */
  display: string;
  options: ConstructorParameters<typeof SQL>[0] & object;
}

/** Server-side keepalives (seconds) on every session: a silently dead client's session — and the
 *  lease its advisory lock is — ends after about idle + interval × count = 25 s; unacknowledged
 *  data gives up after TCP_USER_TIMEOUT. */
export const KEEPALIVE = { tcp_keepalives_idle: 10, tcp_keepalives_interval: 5, tcp_keepalives_count: 3, tcp_user_timeout: 25_000 };

/** Parses STATE_DATABASE_URL (throws MailerError "config" naming what is wrong, never the password). */
export function pgTarget(url: string, o: { max?: number; application?: string } = {}): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MailerError("config", `STATE_DATABASE_URL is not a URL — use postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new MailerError("config", `STATE_DATABASE_URL must start with postgres:// (it starts with ${u.protocol}//) — unset it to keep the SQLite store in STATE_DIR`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!u.hostname || !database || !u.username) {
    throw new MailerError("config", `STATE_DATABASE_URL must name the host, the user and the database: postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  const port = u.port ? Number(u.port) : 5432;
  const username = decodeURIComponent(u.username);
  const display = `postgres://${username}@${u.hostname}:${port}/${database}`;
  const tls = u.searchParams.get("sslmode") ?? undefined;
  return {
    display,
    options: {
      adapter: "postgres",
      hostname: u.hostname.replace(/^\[|\]$/g, ""),
      port,
      username,
      password: decodeURIComponent(u.password),
      database,
      ...(tls ? { tls: tls as "require" } : {}),
      max: o.max ?? 10,
      // prepared statements are one round trip less per query; a pooler in transaction mode
      // (pgbouncer) cannot carry them: ?prepare=false in the URL turns them off
      prepare: u.searchParams.get("prepare") !== "false",
      connectionTimeout: 10,
      idleTimeout: 60,
      connection: { application_name: o.application ?? "mailer", ...KEEPALIVE, idle_in_transaction_session_timeout: 60_000 },
    },
  };
}

export function newClient(t: PgTarget, extra: Partial<PgTarget["options"]> = {}): SQL {
  return new SQL({ ...t.options, ...extra } as ConstructorParameters<typeof SQL>[0] & object);
}

interface PgErrorLike {
  code?: string;
  errno?: string;
}

function sqlState(err: unknown): string | undefined {
  const e = err as PgErrorLike;
  return typeof e?.errno === "string" && /^[0-9A-Z]{5}$/.test(e.errno) ? e.errno : undefined;
}

/** A lost or refused connection (the database went away), as opposed to a query's own error. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as PgErrorLike)?.code ?? "";
  const state = sqlState(err) ?? "";
  return /CONNECTION|SOCKET|TIMEOUT|ECONN|EPIPE|CLOSED/.test(code) || state.startsWith("08") || state.startsWith("57P");
}

/** A start-up failure as a person needs it: exit 2 for a refused login, a missing database or
 *  missing rights; exit 3 when the database cannot be reached. */
export function startupError(err: unknown, display: string): MailerError {
  if (err instanceof MailerError) return err;
  const state = sqlState(err);
  const why = messageOf(err);
  if (state === "28P01" || state === "28000") {
    return new MailerError("auth", `PostgreSQL refused the login to ${display}: ${why} — check the user and password in STATE_DATABASE_URL`, { cause: err });
  }
  if (state === "3D000") return new MailerError("config", `${display}: ${why} — create it (createdb) or fix STATE_DATABASE_URL`, { cause: err });
  if (state === "42501") {
    return new MailerError(
      "state",
      `${display}: ${why} — the user needs to own the database's schema (or CREATE on it) to create Mailer's tables; e.g. as a superuser: ALTER SCHEMA public OWNER TO <user>`,
      { cause: err },
    );
  }
  if (isConnectionError(err) || state === undefined) {
    return new MailerError("unreachable", `cannot reach the PostgreSQL database ${display}: ${why} — is it running, and is STATE_DATABASE_URL's host and port right?`, { cause: err });
  }
  return new MailerError("state", `cannot use the PostgreSQL database ${display}: ${why}`, { cause: err });
}

/** Runs a store operation: PostgreSQL's errors become StoreErrors ("io"; "exhausted" for the
 *  sequence at its end); StoreErrors pass through. */
export async function op<T>(display: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storeError(err, display, what);
  }
}

export function storeError(err: unknown, display: string, what: string): StoreError {
  if (err instanceof StoreError) return err;
  if (sqlState(err) === "2200H") return exhaustedError(display, err);
  const lost = isConnectionError(err) ? " (the connection to the database was lost; it reconnects by itself)" : "";
  return new StoreError("io", `cannot ${what} in ${display}: ${messageOf(err)}${lost}`, { cause: err });
}

export function exhaustedError(display: string, cause?: unknown): StoreError {
  return new StoreError("exhausted", `the ticket numbers are used up (the sequence ticket_seq in ${display} is at its end) — start a new database`, { cause });
}
