// Outgoing mail. Everything above this module talks to the small MailSender interface, so unit
// tests use an in-memory fake and the server uses the nodemailer implementation below. Every
// SMTP failure is turned into one precise, secret-free sentence by describeSmtpError.
import nodemailer, { type Transporter } from "nodemailer";
import { format } from "node:util";
import { usesImplicitTls, type Endpoint } from "../shared/config";
import { CERTIFICATE_HINT, isCertificateError, tlsOptions } from "../shared/tls";
import type { OAuth2Session } from "../shared/oauth2/session";
import { STEP_TIMEOUT, StepDeadline, WarmPool, type SmtpPoolLike } from "./smtp-pool";

export interface OutgoingMail {
  from: string;
  to: string;
  replyTo?: string;
  subject: string;
  text: string;
  /** fixed for a queued copy, so a retry after a crash carries the same Message-ID */
  messageId?: string;
  /** ISO date; fixed for a queued copy for the same reason */
  date?: string;
}

export type FailureKind = "connect" | "dns" | "timeout" | "tls" | "auth" | "recipient" | "sender" | "message" | "protocol" | "other";

export type SendResult =
  | { ok: true; messageId: string; response: string }
  | {
      ok: false;
      kind: FailureKind;
      /** one actionable sentence, never a secret */
      error: string;
      /** the SMTP server refused for good (5xx): retrying the same message cannot help */
      permanent: boolean;
    };

export interface MailSender {
  send(mail: OutgoingMail): Promise<SendResult>;
  /** `force`: also end the messages in flight (they fail); for a stop that must not wait on them */
  close(opts?: { force?: boolean }): Promise<void>;
}

export interface SmtpContext {
  host: string;
  port: number;
  login: string;
  timeoutSec: number;
  security: Endpoint["security"];
  redact: (text: string) => string;
}

/** The error shape nodemailer produces (code, response, responseCode, command, ...). */
export interface SmtpErrorLike {
  code?: string;
  originalCode?: string;
  errno?: string | number;
  message?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  rejected?: string[];
  rejectedErrors?: SmtpErrorLike[];
  /** set by the OAuth2 login (lib/shared/oauth2/session.ts): the whole reason, and whether it was the token endpoint that could not be reached */
  oauth2Reason?: string;
  oauth2Unreachable?: boolean;
}

function serverReply(e: SmtpErrorLike): string {
  const response = (e.response ?? "").replace(/\s+/g, " ").trim();
  return response || (e.responseCode ? String(e.responseCode) : "");
}

/** Maps a nodemailer error to a failure kind and a precise reason (see the README table). */
export function describeSmtpError(err: unknown, ctx: SmtpContext, recipient?: string): Extract<SendResult, { ok: false }> {
  const e = (err ?? {}) as SmtpErrorLike;
  const where = `the SMTP server at ${ctx.host}:${ctx.port}`;
  const msg = (e.message ?? String(err)).replace(/\s+/g, " ").trim();
  const sys = `${e.originalCode ?? ""} ${typeof e.errno === "string" ? e.errno : ""} ${msg}`;
  const permanent = typeof e.responseCode === "number" && e.responseCode >= 500 && e.responseCode < 600;
  const done = (kind: FailureKind, reason: string, perm = false) => ({ ok: false as const, kind, error: ctx.redact(reason), permanent: perm });

  if (e.oauth2Reason) return done(e.oauth2Unreachable ? "connect" : "auth", e.oauth2Reason);
  switch (e.code) {
    case "EAUTH":
      return done(
        "auth",
        `${where} refused the login for EMAIL_LOGIN=${ctx.login}${serverReply(e) ? ` (${serverReply(e)})` : ""} — check EMAIL_PASSWORD`,
      );
    case "EENVELOPE": {
      const reply = serverReply(e);
      if (e.command === "MAIL FROM") {
        return done("sender", `${where} refused the sender address${reply ? `: ${reply}` : ` (${msg})`} — check ADMIN_EMAIL and that EMAIL_LOGIN may send as it`, permanent);
      }
      const rcpt = e.rejected?.[0] ?? recipient;
      return done("recipient", `${where} refused the recipient${rcpt ? ` ${rcpt}` : ""}${reply ? `: ${reply}` : ` (${msg})`}`, permanent);
    }
    case "EMESSAGE":
      return done("message", `${where} refused the message${serverReply(e) ? `: ${serverReply(e)}` : ` (${msg})`}`, permanent);
    case "ETIMEDOUT":
    case STEP_TIMEOUT:
      return done("timeout", `${where} did not answer within SMTP_TIMEOUT=${ctx.timeoutSec} s — check SMTP_HOST/SMTP_PORT and the network, or raise SMTP_TIMEOUT`);
    case "EDNS":
      return done("dns", `cannot resolve SMTP_HOST=${ctx.host} (${msg}) — check the host name`);
  }
  if (isCertificateError(err)) {
    return done("tls", `TLS with ${where} failed: the certificate was not accepted (${msg}) — ${CERTIFICATE_HINT}`);
  }
  if (e.code === "ETLS") {
    if (e.command === "STARTTLS" && e.response) {
      return done("tls", `${where} does not offer STARTTLS (${serverReply(e)}), and SMTP_SECURE=starttls requires it — use a server/port with STARTTLS, or SMTP_SECURE=tls for port 465`);
    }
    return done("tls", `TLS with ${where} failed (${msg}) — check SMTP_PORT/SMTP_SECURE (465 = implicit TLS, 587 = STARTTLS)`);
  }
  if (/ECONNREFUSED/.test(sys)) {
    return done("connect", `cannot connect to ${where}: connection refused — is it running, and are SMTP_HOST/SMTP_PORT right?`);
  }
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(sys)) {
    return done("dns", `cannot resolve SMTP_HOST=${ctx.host} (${msg}) — check the host name`);
  }
  if (/ETIMEDOUT|timed? ?out/i.test(sys)) {
    return done("timeout", `${where} did not answer within SMTP_TIMEOUT=${ctx.timeoutSec} s — check SMTP_HOST/SMTP_PORT and the network, or raise SMTP_TIMEOUT`);
  }
  if (e.code === "ECONNECTION" || e.code === "ESOCKET") {
    const tlsHint = usesImplicitTls({ host: ctx.host, port: ctx.port, security: ctx.security }, 465)
      ? " (implicit TLS is in use: is the server really speaking TLS on this port?)"
      : "";
    return done("connect", `the connection to ${where} failed: ${msg}${tlsHint}`);
  }
  if (e.code === "EPROTOCOL") return done("protocol", `${where} answered unexpectedly: ${msg}`, permanent);
  return done("other", `sending through ${where} failed: ${msg}${e.code ? ` (${e.code})` : ""}`, permanent);
}

export interface NodemailerSenderOptions {
  smtp: Endpoint;
  login: string;
  password: string;
  poolSize: number;
  timeoutSec: number;
  ca?: string[];
  redact: (text: string) => string;
  /** receives the SMTP conversation (already redacted) when set: --debug */
  debugLog?: (line: string) => void;
  /** AUTH_METHOD=oauth2: sign in with its access tokens instead of the password */
  oauth2?: OAuth2Session | null;
}

/** nodemailer's bunyan-style logger, routed through the redactor. */
function makeLogger(write: (line: string) => void, redact: (t: string) => string) {
  const log = (level: string) => (meta: { tnx?: string; cid?: number } | undefined, message: string, ...args: unknown[]) => {
    const text = format(message, ...args);
    for (const line of text.split(/\r?\n/)) if (line) write(redact(`[smtp ${level}${meta?.cid ? ` #${meta.cid}` : ""}] ${line}`));
  };
  return { trace: log("trace"), debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error"), fatal: log("fatal") };
}

/** Messages per pooled SMTP connection before it is renewed, in the background (smtp-pool.ts WarmPool); the bench's limit uses the same. */
export const POOL_MAX_MESSAGES = 100;

/** One address, ASCII, no spaces, separators, quotes, brackets or controls. */
const PLAIN_ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$/;

export class NodemailerSender implements MailSender {
  private readonly transport: Transporter;
  private readonly ctx: SmtpContext;
  private readonly deadline: StepDeadline;
  readonly warm: WarmPool;

  constructor(opts: NodemailerSenderOptions) {
    const implicit = usesImplicitTls(opts.smtp, 465);
    const timeoutMs = Math.round(opts.timeoutSec * 1000);
    this.ctx = { host: opts.smtp.host, port: opts.smtp.port, login: opts.login, timeoutSec: opts.timeoutSec, security: opts.smtp.security, redact: opts.redact };
    this.transport = nodemailer.createTransport({
      pool: true,
      maxConnections: opts.poolSize,
      // never retired by nodemailer on a request's path; WarmPool replaces them in the background
      maxMessages: Infinity,
      // a connection we close is gone at once: no waiting for a server that does not close its side
      socketCloseTimeout: 0,
      host: opts.smtp.host,
      port: opts.smtp.port,
      secure: implicit,
      // "auto" on another port: STARTTLS when the server offers it (nodemailer's default).
      requireTLS: opts.smtp.security === "starttls",
      ...(opts.oauth2 ? opts.oauth2.smtpAuthOptions(opts.login, opts.smtp.host, opts.smtp.port) : { auth: opts.login ? { user: opts.login, pass: opts.password } : undefined }),
      tls: tlsOptions(opts.smtp.host, opts.ca),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      logger: opts.debugLog ? makeLogger(opts.debugLog, opts.redact) : false,
      debug: Boolean(opts.debugLog),
    } as Parameters<typeof nodemailer.createTransport>[0]);
    const pool = () => (this.transport as unknown as { transporter?: SmtpPoolLike }).transporter;
    this.deadline = new StepDeadline(pool, timeoutMs);
    this.deadline.start();
    this.warm = new WarmPool(pool, POOL_MAX_MESSAGES);
  }

  async send(mail: OutgoingMail): Promise<SendResult> {
    // Defence in depth behind lib/wire/address.ts: nodemailer splits an envelope address such as
    // "a@x.org, b@y.org" into two recipients (checked: it only refuses CR, LF, < and >).
    for (const [field, address] of [["From", mail.from], ["To", mail.to], ["Reply-To", mail.replyTo]] as const) {
      if (address !== undefined && !PLAIN_ADDRESS.test(address)) {
        return { ok: false, kind: "recipient", permanent: true, error: `refused to send: the ${field} address ${JSON.stringify(address.slice(0, 100))} is not one plain ASCII address` };
      }
    }
    try {
      const info = await this.transport.sendMail({
        // Address objects and an explicit envelope: nodemailer never parses user input as an
        // address list or a display name, so "a@b, c@d" or "x\r\nBcc: y" cannot add recipients.
        from: { name: "", address: mail.from },
        to: { name: "", address: mail.to },
        ...(mail.replyTo ? { replyTo: { name: "", address: mail.replyTo } } : {}),
        envelope: { from: mail.from, to: [mail.to] },
        subject: mail.subject,
        text: mail.text,
        textEncoding: "quoted-printable",
        ...(mail.messageId ? { messageId: mail.messageId } : {}),
        ...(mail.date ? { date: new Date(mail.date) } : {}),
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      if (info.rejected?.length) {
        return describeSmtpError({ code: "EENVELOPE", command: "RCPT TO", rejected: info.rejected.map(String), response: String(info.response ?? "") }, this.ctx, mail.to);
      }
      return { ok: true, messageId: info.messageId, response: this.ctx.redact(String(info.response ?? "")) };
    } catch (err) {
      return describeSmtpError(err, this.ctx, mail.to);
    } finally {
      this.warm.maintain();
    }
  }

  async close(opts: { force?: boolean } = {}): Promise<void> {
    this.deadline.stop();
    (this.transport.close as (o?: { force?: boolean }) => void)({ force: Boolean(opts.force) });
  }
}
