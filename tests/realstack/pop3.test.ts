// collector.ts with MAIL_PROTOCOL=pop3 against Dovecot's POP3 server (scripts/mailstack.sh):
// STLS and implicit TLS with the stack's private CA on an IP host (verification on), kill -9
// during a 1,000-message backlog, a connection cut in the middle of a large RETR, mail deleted
// by another client between checks, a wrong password. The POP3 user's mailbox is the tests' own
// (pop3@mailer.test); each test empties it first. Mail goes in over LMTP (Dovecot's own
// delivery), so a backlog takes a second, not a minute of SMTP.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { requireMailstack, type MailstackEnv } from "../helpers/mailstack";
import { baseEnv, runEntry } from "../helpers/env";
import { marker, workDir } from "../helpers/realstack";
import { startProxy } from "../helpers/tcp-proxy";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stack = requireMailstack();
if (stack && !stack.pop3) {
  const why = `${stack.envFile} has no MAILSTACK_POP3_PORT: the stack was started by an older scripts/mailstack.sh — restart it`;
  if (process.env.CI && process.env.CI !== "false" && process.env.CI !== "0") throw new Error(why);
  console.log(`skipping POP3 real-stack tests: ${why}`);
}
const ready = stack?.pop3 ? stack : null;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function work(s: MailstackEnv, extra: Record<string, string> = {}) {
  const { logDir, stateDir } = workDir(cleanups, "mailer-p3-");
  const env = baseEnv({
    MAIL_PROTOCOL: "pop3", EMAIL_LOGIN: s.pop3!.user, EMAIL_PASSWORD: s.pop3!.password,
    POP3_HOST: s.imapHost, POP3_PORT: String(s.pop3!.tlsPort), POP3_SECURE: "tls", TLS_CA_FILE: s.caFile,
    PERIOD_CHECK: "1", LOG_DIR: logDir, STATE_DIR: stateDir, ...extra,
  });
  // whole lines only: a line being written (or cut by a kill -9, which the collector then ends and ignores) is not an entry
  const entries = (): Record<string, any>[] =>
    ["success_request.log", "error_request.log"].flatMap((f) =>
      existsSync(join(logDir, f)) ? readFileSync(join(logDir, f), "utf8").split("\n").slice(0, -1).flatMap((l) => parsed(l)) : [],
    );
  return { env, entries, once: (more: Record<string, string> = {}) => runEntry("collector.ts", ["--once"], { ...env, ...more }, undefined, 120_000) };
}

function parsed(line: string): Record<string, any>[] {
  try {
    return [JSON.parse(line)];
  } catch {
    return [];
  }
}

/** Delivers over LMTP to the POP3 user (a pool of 4 connections). */
async function deliver(s: MailstackEnv, messages: { subject: string; text: string }[]) {
  const t = nodemailer.createTransport({ host: "127.0.0.1", port: s.lmtpPort, lmtp: true, secure: false, ignoreTLS: true, pool: true, maxConnections: 4, maxMessages: Infinity } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    await Promise.all(messages.map((m) => t.sendMail({ from: s.user, to: s.pop3!.user, subject: m.subject, text: m.text })));
  } finally {
    t.close();
  }
}

/** Another client (IMAP) on the POP3 user's INBOX. */
async function withInbox<T>(s: MailstackEnv, f: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = new ImapFlow({
    host: s.imapHost, port: s.imapsPort, secure: true, auth: { user: s.pop3!.user, pass: s.pop3!.password }, logger: false,
    tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
  });
  await c.connect();
  const lock = await c.getMailboxLock("INBOX");
  try {
    return await f(c);
  } finally {
    lock.release();
    await c.logout();
  }
}

const emptyInbox = (s: MailstackEnv) => withInbox(s, async (c) => void (typeof c.mailbox === "object" && c.mailbox.exists > 0 && (await c.messageDelete("1:*"))));
/** An empty mailbox and a first run on it (which takes nothing old): what most tests start from. */
async function fresh(s: MailstackEnv, extra: Record<string, string> = {}) {
  await emptyInbox(s);
  const w = work(s, extra);
  expect((await w.once()).code).toBe(0);
  return { mark: marker("p3"), w };
}

const deleteByText = (s: MailstackEnv, text: string) => withInbox(s, async (c) => c.messageDelete({ body: text }));

describe.skipIf(!ready)("collector over POP3 against Dovecot", () => {
  const s = ready!;

  for (const [name, port, secure] of [["implicit TLS (POP3S)", s?.pop3?.tlsPort, "tls"], ["STLS", s?.pop3?.port, "starttls"]] as const) {
    test(`${name}, CA verified on an IP host: the first run takes nothing old, then tickets once each`, async () => {
      await emptyInbox(s);
      const mark = marker("p3");
      await deliver(s, [{ subject: "[Ticket #20000] Mailer", text: `old ${mark}` }]);
      const w = work(s, { POP3_PORT: String(port), POP3_SECURE: secure });
      const first = await w.once();
      expect(first.code).toBe(0);
      expect(first.stderr).toBe("");
      expect(first.stdout).toContain("(TLS, one check)");
      expect(first.stdout).toContain("POP3 has no read/unread state");
      await deliver(s, [
        { subject: "[Ticket #20001] Mailer", text: `ticket ${mark}` },
        { subject: `hello ${mark}`, text: `plain ${mark}` },
      ]);
      expect((await w.once()).code).toBe(0);
      expect((await w.once()).code).toBe(0);
      expect(w.entries().map((e) => [e.ticket ?? null, e.text]).sort()).toEqual([["20001", `ticket ${mark}`], [null, `plain ${mark}`]].sort());
    }, 90_000);
  }

  test("wrong password → exit 2 at once; a certificate of another CA → exit 2 with the TLS_CA_FILE hint", async () => {
    const w = work(s);
    const wrong = await w.once({ EMAIL_PASSWORD: "not-the-password" });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`POP3 login to ${s.imapHost}:${s.pop3!.tlsPort} failed for EMAIL_LOGIN=${s.pop3!.user}`);
    expect(wrong.stderr + wrong.stdout).not.toContain("not-the-password");
    const other = await w.once({ TLS_CA_FILE: join(s.otherCaDir, "ca.pem") });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("TLS_CA_FILE");
  }, 60_000);

  test("mail deleted by another client between checks (Dovecot renumbers): no error, nothing twice, nothing lost", async () => {
    const { mark, w } = await fresh(s);
    await deliver(s, ["a", "b", "c"].map((x) => ({ subject: `${x} ${mark}`, text: `${x} ${mark}` })));
    expect((await w.once()).code).toBe(0);
    await deleteByText(s, `a ${mark}`); // message 1 goes: b and c are 1 and 2 in the next session
    await deliver(s, [{ subject: `d ${mark}`, text: `d ${mark}` }, { subject: `e ${mark}`, text: `e ${mark}` }]);
    await deleteByText(s, `d ${mark}`); // gone before the collector ever saw it
    const r = await w.once();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect((await w.once()).code).toBe(0);
    expect(w.entries().map((e) => e.text).sort()).toEqual(["a", "b", "c", "e"].map((x) => `${x} ${mark}`));
    expect(new Set(w.entries().map((e) => e.uid)).size).toBe(4);
  }, 90_000);

  test("a connection cut in the middle of a large RETR: that check fails (exit 3), the next fetches the message, once", async () => {
    const proxy = await startProxy(s.pop3!.tlsPort);
    cleanups.push(() => proxy.close());
    const { mark, w } = await fresh(s, { POP3_PORT: String(proxy.port) });
    const big = `big ${mark}\n` + "0123456789abcdef ".repeat(120_000); // ~2 MB: streamed, never held whole
    await deliver(s, [{ subject: "[Ticket #20002] Mailer", text: big }, { subject: `small ${mark}`, text: `small ${mark}` }]);
    // the process logs in twice: once at start (a wrong password shows at once), then the check's session
    proxy.cutAfter(Number.MAX_SAFE_INTEGER, 1_000_000);
    const cut = await w.once();
    expect(cut.code).toBe(3);
    expect(proxy.cuts).toEqual([1_000_000]);
    expect(w.entries().filter((e) => e.ticket === "20002")).toHaveLength(0);
    const again = await w.once();
    expect(again.code).toBe(0);
    const entries = w.entries();
    expect(entries.filter((e) => e.ticket === "20002")).toHaveLength(1);
    expect(entries.find((e) => e.ticket === "20002")!.size).toBeGreaterThan(1_000_000);
    expect(entries.filter((e) => e.text === `small ${mark}`)).toHaveLength(1);
  }, 90_000);

  test("kill -9 during a 1,000-message backlog, six times: exactly 1,000 entries, one per message", async () => {
    const { mark, w } = await fresh(s);
    const t0 = Date.now();
    await deliver(s, Array.from({ length: 1000 }, (_, i) => ({ subject: `[Ticket #${30000 + i}] Mailer`, text: `n${i} ${mark}` })));
    console.log(`LMTP: 1,000 messages delivered in ${Date.now() - t0} ms`);
    const kills: number[] = [];
    // where the kills land varies: some a while after start (start-up, the UIDL listing and the
    // UID map's append, a fetch), some once the log has grown past a count (between batches)
    // (more entries than there were when this run started: each run is killed with work left)
    const plan: ({ afterMs: number } | { more: number })[] = [{ afterMs: 120 }, { more: 100 }, { afterMs: 180 }, { more: 100 }, { afterMs: 240 }, { more: 100 }];
    for (const when of plan) {
      const before = w.entries().length;
      const proc = Bun.spawn(["bun", "collector.ts"], { cwd: join(import.meta.dir, "../.."), env: w.env, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      const started = Date.now();
      const due = () => ("afterMs" in when ? Date.now() - started >= when.afterMs : w.entries().length >= before + when.more);
      while (!due() && w.entries().length < 1000 && Date.now() - started < 60_000 && proc.exitCode === null) await Bun.sleep(5);
      proc.kill("SIGKILL");
      await proc.exited;
      kills.push(w.entries().length);
    }
    console.log(`entries at each kill -9: ${kills.join(", ")}`);
    const last = await w.once();
    expect(last.code).toBe(0);
    const entries = w.entries();
    expect(entries).toHaveLength(1000);
    expect(new Set(entries.map((e) => e.ticket)).size).toBe(1000);
    expect(new Set(entries.map((e) => e.uid)).size).toBe(1000);
  }, 240_000);
});
