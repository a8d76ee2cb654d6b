// Configuration: every key of README "Configuration", parsed and checked in one pass so that a person
// sees every missing or malformed key at once (exit code 2), never one at a time.

export type Security = "tls" | "starttls" | "auto";
export type Role = "server" | "client" | "collector" | "sandbox" | "state";

export interface Endpoint {
  host: string;
  port: number;
  /** tls = implicit TLS; starttls = STARTTLS required; auto = implicit on 465/993, else STARTTLS when offered */
  security: Security;
}

export interface Config {
  emailLogin: string;
  emailPassword: string;
  adminEmail: string;
  smtp: Endpoint;
  imap: Endpoint;
  periodCheck: number;
  serverHost: string;
  serverPort: number;
  tlsCaFile: string | null;
  logDir: string;
  stateDir: string;
  /** STATE_DATABASE_URL: the PostgreSQL store shared by several machines; null = SQLite in STATE_DIR */
  stateDatabaseUrl: string | null;
  /** PROXY_PROTOCOL=on: every connection starts with a PROXY protocol v2 header (haproxy send-proxy-v2) */
  proxyProtocol: boolean;
  maxRequestBytes: number;
  maxMessageChars: number;
  idleTimeout: number;
  maxConnections: number;
  smtpPoolSize: number;
  rateLimitPerMinute: number;
  recipientLimitPerHour: number;
  /** seconds one SMTP command/connection may take before MAIL_FAILED (timed out) */
  smtpTimeout: number;
  /** seconds between outbox retries of queued admin copies */
  outboxRetry: number;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

type Env = Record<string, string | undefined>;

/** Keys each role cannot run without. Everything else has a default. */
const REQUIRED: Record<Role, string[]> = {
  server: ["EMAIL_LOGIN", "EMAIL_PASSWORD", "SMTP_HOST", "SMTP_PORT"],
  client: [],
  collector: ["EMAIL_LOGIN", "EMAIL_PASSWORD", "IMAP_HOST", "IMAP_PORT", "PERIOD_CHECK"],
  sandbox: ["EMAIL_LOGIN", "EMAIL_PASSWORD", "SMTP_HOST", "SMTP_PORT", "IMAP_HOST", "IMAP_PORT"],
  state: [],
};

class Reader {
  readonly errors: string[] = [];
  constructor(private env: Env, private required: Set<string>) {}

  private raw(key: string): string | undefined {
    const value = this.env[key]?.trim();
    if (value === undefined || value === "") {
      if (this.required.has(key)) this.errors.push(`${key} is not set — add it to .env.local (see README, "Configuration")`);
      return undefined;
    }
    return value;
  }

  string(key: string, fallback: string): string {
    return this.raw(key) ?? fallback;
  }

  number(key: string, fallback: number, opts: { min: number; max?: number; integer?: boolean }): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const n = Number(value);
    const bad =
      !/^[+]?\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || n < opts.min ||
      (opts.max !== undefined && n > opts.max) || (opts.integer && !Number.isInteger(n));
    if (bad) {
      const kind = opts.integer ? "a whole number" : "a number";
      const range = opts.max !== undefined ? `from ${opts.min} to ${opts.max}` : `of at least ${opts.min}`;
      this.errors.push(`${key}=${JSON.stringify(value)} is not valid — use ${kind} ${range}`);
      return fallback;
    }
    return n;
  }

  port(key: string, fallback: number): number {
    return this.number(key, fallback, { min: 1, max: 65535, integer: true });
  }

  positive(key: string, fallback: number): number {
    const before = this.errors.length;
    const n = this.number(key, fallback, { min: 0 });
    if (n === 0 && this.errors.length === before && this.raw(key) !== undefined) {
      this.errors.push(`${key}=0 is not valid — use a positive number of seconds`);
    }
    return n;
  }

  /** A postgres:// URL, checked for its shape only; the password never appears in an error. */
  databaseUrl(key: string): string | null {
    const value = this.raw(key);
    if (value === undefined) return null;
    let ok = false;
    try {
      const u = new URL(value);
      ok = (u.protocol === "postgres:" || u.protocol === "postgresql:") && u.hostname !== "" && u.username !== "" && u.pathname.length > 1;
    } catch {}
    if (!ok) this.errors.push(`${key} is not valid — use postgres://USER:PASSWORD@HOST:PORT/DATABASE, or leave it unset to keep the SQLite store in STATE_DIR`);
    return ok ? value : null;
  }

  onOff(key: string, fallback: boolean): boolean {
    const value = this.raw(key)?.toLowerCase();
    if (value === undefined) return fallback;
    if (value === "on" || value === "off") return value === "on";
    this.errors.push(`${key}=${JSON.stringify(value)} is not valid — use "on" or "off"`);
    return fallback;
  }

  security(key: string): Security {
    const value = this.raw(key)?.toLowerCase();
    if (value === undefined) return "auto";
    if (value === "tls" || value === "starttls") return value;
    this.errors.push(`${key}=${JSON.stringify(value)} is not valid — use "tls" (implicit TLS), "starttls" (STARTTLS required), or leave it unset to choose by port`);
    return "auto";
  }
}

/**
 * Parses the environment for one role. Required keys are only those the role uses; the other
 * keys are still checked when present, so a typo is reported even by a role that ignores it.
 */
export function loadConfig(env: Env, role: Role): ConfigResult {
  const r = new Reader(env, new Set(REQUIRED[role]));
  const emailLogin = r.string("EMAIL_LOGIN", "");
  const config: Config = {
    emailLogin,
    emailPassword: r.string("EMAIL_PASSWORD", ""),
    adminEmail: r.string("ADMIN_EMAIL", emailLogin),
    smtp: { host: r.string("SMTP_HOST", ""), port: r.port("SMTP_PORT", 0), security: r.security("SMTP_SECURE") },
    imap: { host: r.string("IMAP_HOST", ""), port: r.port("IMAP_PORT", 0), security: r.security("IMAP_SECURE") },
    periodCheck: r.positive("PERIOD_CHECK", 0),
    serverHost: r.string("SERVER_HOST", "127.0.0.1"),
    serverPort: r.port("SERVER_PORT", 50007),
    tlsCaFile: r.string("TLS_CA_FILE", "") || null,
    logDir: r.string("LOG_DIR", "logs"),
    stateDir: r.string("STATE_DIR", ""),
    stateDatabaseUrl: r.databaseUrl("STATE_DATABASE_URL"),
    proxyProtocol: r.onOff("PROXY_PROTOCOL", false),
    maxRequestBytes: r.number("MAX_REQUEST_BYTES", 65536, { min: 256, max: 64 * 1024 * 1024, integer: true }),
    maxMessageChars: r.number("MAX_MESSAGE_CHARS", 10000, { min: 1, max: 10_000_000, integer: true }),
    idleTimeout: r.positive("IDLE_TIMEOUT", 30),
    maxConnections: r.number("MAX_CONNECTIONS", 10000, { min: 1, integer: true }),
    smtpPoolSize: r.number("SMTP_POOL_SIZE", 5, { min: 1, max: 100, integer: true }),
    rateLimitPerMinute: r.number("RATE_LIMIT_PER_MINUTE", 30, { min: 0, integer: true }),
    recipientLimitPerHour: r.number("RECIPIENT_LIMIT_PER_HOUR", 10, { min: 0, integer: true }),
    smtpTimeout: r.positive("SMTP_TIMEOUT", 15),
    outboxRetry: r.positive("OUTBOX_RETRY", 30),
  };
  if (!config.stateDir) config.stateDir = `${config.logDir}/state`;
  if (config.adminEmail && !config.adminEmail.includes("@") && REQUIRED[role].includes("EMAIL_LOGIN")) {
    r.errors.push(
      `ADMIN_EMAIL (or EMAIL_LOGIN, its default) is ${JSON.stringify(config.adminEmail)}, not an email address — set ADMIN_EMAIL to the admin's address`,
    );
  }
  return r.errors.length ? { ok: false, errors: r.errors } : { ok: true, config };
}

/** Whether an endpoint uses implicit TLS: explicit setting, else by well-known port. */
export function usesImplicitTls(endpoint: Endpoint, implicitPort: number): boolean {
  return endpoint.security === "tls" || (endpoint.security === "auto" && endpoint.port === implicitPort);
}
