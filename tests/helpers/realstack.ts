// Plumbing for the real-stack tests (tests/realstack-*.test.ts): the three entry points wired to
// the Postfix + Dovecot of scripts/mailstack.sh with every key explicit, and an IMAP look into
// a mailbox by a marker in the text. Certificate verification is always on: the stack's private
// CA is trusted the documented way, TLS_CA_FILE, and imapflow here gets the same CA.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { baseEnv, freePort, runEntry, tempDir, type RunResult } from "./env";
import type { MailstackEnv } from "./mailstack";
import { readJsonLines } from "./kit";

// mailparser ships no types (lib/mailparser.d.ts declares only MailParser): the fields used here.
interface AddressList { value: { address?: string; name?: string }[]; text: string }
export interface ParsedMail {
  subject?: string;
  from?: AddressList;
  to?: AddressList | AddressList[];
  replyTo?: AddressList;
  messageId?: string;
  text?: string;
}
const { simpleParser } = require("mailparser") as { simpleParser(raw: Buffer): Promise<ParsedMail> };

/** A unique ASCII word for one test's messages (the stack's mailboxes are shared). */
export const marker = (prefix = "rs") => `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** A temp dir with logs/ and state/; registered for removal. */
export function workDir(cleanups: (() => unknown)[], prefix = "mailer-rs-") {
  const t = tempDir(prefix);
  cleanups.push(t.cleanup);
  return { path: t.path, logDir: join(t.path, "logs"), stateDir: join(t.path, "state") };
}

/** Every key server.ts reads, pointing at the stack's submission port (STARTTLS + AUTH). */
export function serverEnv(s: MailstackEnv, dir: { logDir: string; stateDir: string }, extra: Record<string, string> = {}) {
  return baseEnv({
    EMAIL_LOGIN: s.admin, EMAIL_PASSWORD: s.adminPassword, ADMIN_EMAIL: s.admin,
    SMTP_HOST: s.smtpHost, SMTP_PORT: String(s.smtpPort), SMTP_SECURE: "starttls", TLS_CA_FILE: s.caFile,
    IMAP_HOST: s.imapHost, IMAP_PORT: String(s.imapsPort), IMAP_SECURE: "tls", PERIOD_CHECK: "60",
    SERVER_HOST: "127.0.0.1", SERVER_PORT: String(freePort()),
    LOG_DIR: dir.logDir, STATE_DIR: dir.stateDir,
    MAX_REQUEST_BYTES: "65536", MAX_MESSAGE_CHARS: "10000", IDLE_TIMEOUT: "30", MAX_CONNECTIONS: "100",
    SMTP_POOL_SIZE: "2", RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0", SMTP_TIMEOUT: "10", OUTBOX_RETRY: "30",
    ...extra,
  });
}

/** Every key collector.ts reads; implicit TLS (IMAPS) unless `extra` says otherwise. */
export function collectorEnv(s: MailstackEnv, dir: { logDir: string; stateDir: string }, extra: Record<string, string> = {}) {
  return baseEnv({
    EMAIL_LOGIN: s.admin, EMAIL_PASSWORD: s.adminPassword, ADMIN_EMAIL: s.admin,
    IMAP_HOST: s.imapHost, IMAP_PORT: String(s.imapsPort), IMAP_SECURE: "tls", TLS_CA_FILE: s.caFile,
    SMTP_HOST: s.smtpHost, SMTP_PORT: String(s.smtpPort), SMTP_SECURE: "starttls",
    PERIOD_CHECK: "60", LOG_DIR: dir.logDir, STATE_DIR: dir.stateDir,
    ...extra,
  });
}

/** `bun client.ts -e EMAIL -m TEXT` against a server on `port`. */
export function runClient(port: number, email: string, message: string): Promise<RunResult> {
  const env = baseEnv({ SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), MAX_MESSAGE_CHARS: "10000" });
  return runEntry("client.ts", ["-e", email, "-m", message, "--timeout", "30"], env, undefined, 40_000);
}

/** The ticket number a successful client run printed. */
export function ticketOf(run: RunResult): string {
  const m = /Ticket #(\d{5,}) accepted/.exec(run.stdout);
  if (run.code !== 0 || !m) throw new Error(`client did not get a ticket (exit ${run.code}):\n${run.stdout}${run.stderr}`);
  return m[1]!;
}

/** The JSON lines of LOG_DIR/<file>, [] when it does not exist. */
export function logEntries(logDir: string, file = "success_request.log"): Record<string, any>[] {
  const path = join(logDir, file);
  if (!existsSync(path)) return [];
  return readJsonLines(path);
}

/** Everything under `dir` (recursively) as one string: for "the secret is in no file" checks. */
export function allFileText(dir: string): string {
  if (!existsSync(dir)) return "";
  let out = "";
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out += readFileSync(join(e.parentPath, e.name), "utf8");
  }
  return out;
}

export function imapClient(s: MailstackEnv, who: "admin" | "user" = "admin"): ImapFlow {
  return new ImapFlow({
    host: s.imapHost, port: s.imapsPort, secure: true,
    auth: who === "admin" ? { user: s.admin, pass: s.adminPassword } : { user: s.user, pass: s.userPassword },
    // Verification on; with an IP host Bun needs a string servername (NOTES.md).
    tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
    logger: false,
    disableAutoIdle: true,
  });
}

export interface FoundMail {
  uid: number;
  parsed: ParsedMail;
  /** the raw header block, to check what is (not) there */
  headers: string;
}

/**
 * The messages in `who`'s INBOX whose text contains `mark`, once at least `atLeast` are there
 * (or `waitMs` has passed: then whatever is there, possibly fewer).
 */
export async function findMail(s: MailstackEnv, who: "admin" | "user", mark: string, atLeast = 1, waitMs = 15_000): Promise<FoundMail[]> {
  const client = imapClient(s, who);
  await client.connect();
  try {
    const lock = await client.getMailboxLock("INBOX");
    try {
      const deadline = Date.now() + waitMs;
      let uids: number[] = [];
      for (;;) {
        uids = (await client.search({ body: mark }, { uid: true })) || [];
        if (uids.length >= atLeast || Date.now() > deadline) break;
        await Bun.sleep(100);
      }
      const raw: { uid: number; source: Buffer }[] = [];
      if (uids.length) for await (const m of client.fetch(uids.join(","), { uid: true, source: true }, { uid: true })) raw.push({ uid: m.uid, source: m.source! });
      const out: FoundMail[] = [];
      for (const r of raw.sort((a, b) => a.uid - b.uid)) {
        const text = r.source.toString("utf8");
        const end = text.search(/\r?\n\r?\n/);
        out.push({ uid: r.uid, parsed: await simpleParser(r.source), headers: end < 0 ? text : text.slice(0, end) });
      }
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

/** Deletes every message in the admin's INBOX (expunged), so a collector's first run is small. */
export async function clearAdminInbox(s: MailstackEnv): Promise<void> {
  const client = imapClient(s, "admin");
  await client.connect();
  try {
    const lock = await client.getMailboxLock("INBOX");
    try {
      if ((client.mailbox && typeof client.mailbox === "object" ? client.mailbox.exists : 0) > 0) await client.messageDelete("1:*");
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

export { until } from "./kit";
