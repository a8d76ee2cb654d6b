// Configuration: every key of docs/configuration.md "Configuration", parsed and checked in one pass so that a person
// sees every missing or malformed key at once (exit code 2), never one at a time. A malformed key
// the program does not use is a warning for it (USES), not a stop.
import type { LogFormat } from "./log";
import { isLoopback } from "./net";
import { OAUTH2_KEYS, readAuthMethod, readOAuth2, type AuthMethod, type OAuth2Settings } from "./oauth2/settings";

export type Security = "tls" | "starttls" | "auto";
export type Role = "server" | "client" | "collector" | "sandbox" | "oauth-login" | "web" | "state";

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
  /** what the collector reads the inbox with (MAIL_PROTOCOL) */
  mailProtocol: "imap" | "pop3";
  pop3: Endpoint;
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
  /** concurrent connections from one client address; 0 = no per-address limit */
  maxConnectionsPerIp: number;
  smtpPoolSize: number;
  rateLimitPerMinute: number;
  recipientLimitPerHour: number;
  /** seconds one SMTP command/connection may take before MAIL_FAILED (timed out) */
  smtpTimeout: number;
  /** seconds between outbox retries of queued admin copies */
  outboxRetry: number;
  /** AUTH_METHOD: how EMAIL_LOGIN signs in to SMTP and IMAP */
  authMethod: AuthMethod;
  /** the OAUTH2_* keys when AUTH_METHOD=oauth2 */
  oauth2: OAuth2Settings | null;
  /** the sandbox's web inbox (loopback only) */
  sandboxWebPort: number;
  /** `bun run web`: dashboard and form */
  webHost: string;
  webPort: number;
  /** HTTP Basic password for the web process; required when webHost is not loopback */
  webPassword: string | null;
  /** shared by web and server: the server trusts a form request's browser address only when signed with it */
  webFrontendSecret: string | null;
  /** operational lines of the server and the collector: for people, or JSON Lines */
  logFormat: LogFormat;
}

/** `warnings`: malformed keys this role does not use (lib/shared/cli.ts prints them). */
export type ConfigResult = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

type Env = Record<string, string | undefined>;

/**
 * Every duration key, in seconds, with its range (docs/configuration.md "Configuration"). The upper bounds keep
 * timers far below the 2^31 ms (24.8 days) at which a timer overflows and fires at once; the
 * lower ones keep a typo such as 0.001 from hammering a mail server.
 */
export const DURATIONS = {
  PERIOD_CHECK: { min: 1, max: 86_400 },
  SMTP_TIMEOUT: { min: 1, max: 600 },
  IDLE_TIMEOUT: { min: 1, max: 86_400 },
  // below one second only for tests that watch retries happen
  OUTBOX_RETRY: { min: 0.1, max: 86_400 },
} as const;
export type DurationKey = keyof typeof DURATIONS;

/** 1 → "1 s", 600 → "10 min", 86400 → "1 day": how a range is written in messages and the README. */
export function durationText(seconds: number): string {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? "" : "s"}`;
  if (seconds >= 3_600 && seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Keys each role cannot run without. Everything else has a default. */
const REQUIRED: Record<Role, string[]> = {
  server: ["EMAIL_LOGIN", "EMAIL_PASSWORD", "SMTP_HOST", "SMTP_PORT"],
  client: [],
  collector: ["EMAIL_LOGIN", "EMAIL_PASSWORD", "IMAP_HOST", "IMAP_PORT", "PERIOD_CHECK"],
  sandbox: ["EMAIL_LOGIN", "EMAIL_PASSWORD", "SMTP_HOST", "SMTP_PORT", "IMAP_HOST", "IMAP_PORT"],
  "oauth-login": ["EMAIL_LOGIN"],
  web: [],
  state: [],
};

/** Roles that sign in to the mail servers with AUTH_METHOD (OAuth2 replaces EMAIL_PASSWORD there). */
const SIGNS_IN: Role[] = ["server", "collector", "oauth-login"];

const OAUTH2 = ["AUTH_METHOD", ...OAUTH2_KEYS];
const POP3 = ["MAIL_PROTOCOL", "POP3_HOST", "POP3_PORT", "POP3_SECURE"];
const WEB = ["WEB_HOST", "WEB_PORT", "WEB_PASSWORD", "WEB_FRONTEND_SECRET"];

/**
 * Keys each role reads. A malformed value of a key outside its role's list is a warning for that
 * role (naming who would stop on it). A key in no list (added later) counts as used by every role.
 */
const USES: Record<Role, string[]> = {
  client: ["SERVER_HOST", "SERVER_PORT", "MAX_MESSAGE_CHARS"],
  server: [
    "EMAIL_LOGIN", "EMAIL_PASSWORD", "ADMIN_EMAIL", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURE", "TLS_CA_FILE", "SERVER_HOST", "SERVER_PORT",
    "LOG_DIR", "STATE_DIR", "MAX_REQUEST_BYTES", "MAX_MESSAGE_CHARS", "IDLE_TIMEOUT", "MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_IP", "SMTP_POOL_SIZE",
    "RATE_LIMIT_PER_MINUTE", "RECIPIENT_LIMIT_PER_HOUR", "SMTP_TIMEOUT", "OUTBOX_RETRY", "LOG_FORMAT", "WEB_FRONTEND_SECRET", "STATE_DATABASE_URL", "PROXY_PROTOCOL", ...OAUTH2,
  ],
  collector: [
    "EMAIL_LOGIN", "EMAIL_PASSWORD", "IMAP_HOST", "IMAP_PORT", "IMAP_SECURE", "TLS_CA_FILE", "PERIOD_CHECK", "LOG_DIR", "STATE_DIR", "LOG_FORMAT", "STATE_DATABASE_URL",
    ...POP3, ...OAUTH2,
  ],
  sandbox: [
    "EMAIL_LOGIN", "EMAIL_PASSWORD", "ADMIN_EMAIL", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURE", "IMAP_HOST", "IMAP_PORT", "IMAP_SECURE",
    ...POP3, "SANDBOX_WEB_PORT", "WEB_HOST", "WEB_PORT",
  ],
  "oauth-login": ["EMAIL_LOGIN", "LOG_DIR", "STATE_DIR", ...OAUTH2],
  web: ["SERVER_HOST", "SERVER_PORT", "MAX_MESSAGE_CHARS", "ADMIN_EMAIL", "LOG_DIR", ...WEB],
  state: ["LOG_DIR", "STATE_DIR", "STATE_DATABASE_URL"],
};
const LISTED = new Set(Object.values(USES).flat());

/** Who would stop on a malformed key: "the collector", "the server and the collector". */
function usersOf(key: string): string {
  const roles = (Object.keys(USES) as Role[]).filter((r) => r !== "sandbox" && USES[r].includes(key));
  return roles.map((r) => `the ${r}`).join(" and ") || "the sandbox";
}

class Reader {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  /** every key read, for the misspelt-key check (lib/shared/env-files.ts) */
  readonly keys = new Set<string>();
  constructor(private env: Env, private required: Set<string>, private role: Role) {}

  /** A malformed value: an error where this role uses the key, a warning where it does not. */
  private bad(key: string, problem: string): void {
    if (!LISTED.has(key) || USES[this.role].includes(key)) this.errors.push(problem);
    else this.warnings.push(`${problem} (the ${this.role} does not use it; ${usersOf(key)} would stop on it)`);
  }

  private raw(key: string): string | undefined {
    this.keys.add(key);
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
      this.bad(key, `${key}=${JSON.stringify(value)} is not valid — use ${kind} ${range}`);
      return fallback;
    }
    return n;
  }

  port(key: string, fallback: number): number {
    return this.number(key, fallback, { min: 1, max: 65535, integer: true });
  }

  /** A number of seconds within the key's documented range (DURATIONS); one message for every bad value. */
  duration(key: DurationKey, fallback: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const { min, max } = DURATIONS[key];
    const n = Number(value);
    if (!/^[+]?\d+(\.\d+)?$/.test(value) || !(n >= min && n <= max)) {
      this.bad(key, `${key}=${JSON.stringify(value)} is not valid — use a number of seconds from ${durationText(min)} to ${durationText(max)}`);
      return fallback;
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
    this.bad(key, `${key}=${JSON.stringify(value)} is not valid — use "tls" (implicit TLS), "starttls" (STARTTLS required), or leave it unset to choose by port`);
    return "auto";
  }

  logFormat(key: string): LogFormat {
    const value = this.raw(key)?.toLowerCase();
    if (value === undefined || value === "human" || value === "json") return value ?? "human";
    this.bad(key, `${key}=${JSON.stringify(value)} is not valid — use "human" (the default) or "json" (JSON Lines for log shippers)`);
    return "human";
  }
}

/**
 * Parses the environment for one role. Required keys are only those the role uses; the other
 * keys are still checked when present, so a typo is reported even by a role that ignores it.
 */
export function loadConfig(env: Env, role: Role): ConfigResult {
  const oauth2 = SIGNS_IN.includes(role) && env.AUTH_METHOD?.trim().toLowerCase() === "oauth2";
  const mailProtocol = env.MAIL_PROTOCOL?.trim().toLowerCase() || "imap";
  const required = new Set(REQUIRED[role].filter((k) => !(oauth2 && k === "EMAIL_PASSWORD")));
  if (mailProtocol === "pop3" && role === "collector") (required.delete("IMAP_HOST"), required.delete("IMAP_PORT"), required.add("POP3_HOST"));
  const r = new Reader(env, required, role);
  r.keys.add("MAIL_PROTOCOL");
  if (mailProtocol !== "imap" && mailProtocol !== "pop3") r.errors.push(`MAIL_PROTOCOL=${JSON.stringify(env.MAIL_PROTOCOL)} is not valid — use "imap" (default) or "pop3"`);
  const authMethod = readAuthMethod(r);
  const pop3Security = r.security("POP3_SECURE");
  const emailLogin = r.string("EMAIL_LOGIN", "");
  const config: Config = {
    emailLogin,
    emailPassword: r.string("EMAIL_PASSWORD", ""),
    adminEmail: r.string("ADMIN_EMAIL", emailLogin),
    smtp: { host: r.string("SMTP_HOST", ""), port: r.port("SMTP_PORT", 0), security: r.security("SMTP_SECURE") },
    imap: { host: r.string("IMAP_HOST", ""), port: r.port("IMAP_PORT", 0), security: r.security("IMAP_SECURE") },
    mailProtocol: mailProtocol === "pop3" ? "pop3" : "imap",
    // POP3_PORT unset: 995 (implicit TLS), or 110 when STLS is required
    pop3: { host: r.string("POP3_HOST", ""), port: r.port("POP3_PORT", pop3Security === "starttls" ? 110 : 995), security: pop3Security },
    periodCheck: r.duration("PERIOD_CHECK", 0),
    serverHost: r.string("SERVER_HOST", "127.0.0.1"),
    serverPort: r.port("SERVER_PORT", 50007),
    tlsCaFile: r.string("TLS_CA_FILE", "") || null,
    logDir: r.string("LOG_DIR", "logs"),
    stateDir: r.string("STATE_DIR", ""),
    stateDatabaseUrl: r.databaseUrl("STATE_DATABASE_URL"),
    proxyProtocol: r.onOff("PROXY_PROTOCOL", false),
    maxRequestBytes: r.number("MAX_REQUEST_BYTES", 65536, { min: 256, max: 64 * 1024 * 1024, integer: true }),
    maxMessageChars: r.number("MAX_MESSAGE_CHARS", 10000, { min: 1, max: 10_000_000, integer: true }),
    idleTimeout: r.duration("IDLE_TIMEOUT", 30),
    maxConnections: r.number("MAX_CONNECTIONS", 10000, { min: 1, integer: true }),
    maxConnectionsPerIp: r.number("MAX_CONNECTIONS_PER_IP", 100, { min: 0, integer: true }),
    smtpPoolSize: r.number("SMTP_POOL_SIZE", 5, { min: 1, max: 100, integer: true }),
    rateLimitPerMinute: r.number("RATE_LIMIT_PER_MINUTE", 30, { min: 0, integer: true }),
    recipientLimitPerHour: r.number("RECIPIENT_LIMIT_PER_HOUR", 10, { min: 0, integer: true }),
    smtpTimeout: r.duration("SMTP_TIMEOUT", 15),
    outboxRetry: r.duration("OUTBOX_RETRY", 30),
    authMethod,
    oauth2: readOAuth2(r, authMethod, SIGNS_IN.includes(role)),
    ...webKeys(r),
    logFormat: r.logFormat("LOG_FORMAT"),
  };
  if (!config.stateDir) config.stateDir = `${config.logDir}/state`;
  if (config.adminEmail && !config.adminEmail.includes("@") && REQUIRED[role].includes("EMAIL_LOGIN")) {
    r.errors.push(
      `ADMIN_EMAIL (or EMAIL_LOGIN, its default) is ${JSON.stringify(config.adminEmail)}, not an email address — set ADMIN_EMAIL to the admin's address`,
    );
  }
  if (role === "web" && !isLoopback(config.webHost) && !config.webPassword) {
    r.errors.push(`WEB_HOST=${config.webHost} makes the dashboard and form reachable from other machines, so WEB_PASSWORD must be set (HTTP Basic) — set it in .env.local, or use WEB_HOST=127.0.0.1`);
  }
  lastKeys = r.keys;
  return r.errors.length ? { ok: false, errors: r.errors, warnings: r.warnings } : { ok: true, config, warnings: r.warnings };
}

let lastKeys = new Set<string>();

/** Every key Mailer reads (what loadConfig asked for), for the misspelt-key check. */
export function knownKeys(): string[] {
  if (lastKeys.size === 0) loadConfig({}, "client");
  return [...lastKeys];
}

/** The web inbox, dashboard and form keys (docs/web.md "Web pages"). */
function webKeys(r: Reader): Pick<Config, "sandboxWebPort" | "webHost" | "webPort" | "webPassword" | "webFrontendSecret"> {
  const secret = r.string("WEB_FRONTEND_SECRET", "") || null;
  // An HMAC key a person could guess would let anyone claim any browser address.
  if (secret !== null && secret.length < 16) r.errors.push("WEB_FRONTEND_SECRET is too short — use at least 16 random characters (e.g. `openssl rand -hex 32`)");
  return {
    sandboxWebPort: r.port("SANDBOX_WEB_PORT", 8025),
    webHost: r.string("WEB_HOST", "127.0.0.1"),
    webPort: r.port("WEB_PORT", 8026),
    webPassword: r.string("WEB_PASSWORD", "") || null,
    webFrontendSecret: secret,
  };
}

/** Whether an endpoint uses implicit TLS: explicit setting, else by well-known port. */
export function usesImplicitTls(endpoint: Endpoint, implicitPort: number): boolean {
  return endpoint.security === "tls" || (endpoint.security === "auto" && endpoint.port === implicitPort);
}
