// collector.ts against the real mail stack (Postfix → Dovecot, scripts/mailstack.sh): STARTTLS
// and implicit TLS with a private CA on an IP host, real IDLE, real \Seen. The admin's INBOX is
// shared with other tests, so every assertion is about this file's own messages (a marker).
// Skipped with one line outside CI when the stack is not running; fails in CI.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { requireMailstack, type MailstackEnv } from "../helpers/mailstack";
import { baseEnv, runEntry, startEntry, tempDir } from "../helpers/env";
import { readJsonLines } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stack = requireMailstack();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const marker = () => `cm${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function collectorEnv(s: MailstackEnv, extra: Record<string, string> = {}) {
  const t = tempDir("mailer-cms-");
  cleanups.push(t.cleanup);
  const logDir = join(t.path, "logs");
  const env = baseEnv({
    EMAIL_LOGIN: s.admin, EMAIL_PASSWORD: s.adminPassword, IMAP_HOST: s.imapHost, IMAP_PORT: String(s.imapPort),
    IMAP_SECURE: "starttls", TLS_CA_FILE: s.caFile, PERIOD_CHECK: "60", LOG_DIR: logDir, STATE_DIR: join(t.path, "state"), ...extra,
  });
  const entries = () =>
    ["success_request.log", "error_request.log"].flatMap((f) =>
      readJsonLines(join(logDir, f)),
    );
  return { env, entries };
}

async function deliver(s: MailstackEnv, messages: { subject: string; text: string }[]) {
  const t = nodemailer.createTransport({
    host: s.smtpHost, port: s.smtpPort, secure: false, requireTLS: true,
    auth: { user: s.user, pass: s.userPassword },
    tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
  });
  try {
    for (const m of messages) await t.sendMail({ from: s.user, to: s.admin, subject: m.subject, text: m.text });
  } finally {
    t.close();
  }
}

/** Flags of this test's messages (by marker in the body), read with a separate client. */
async function flagsOf(s: MailstackEnv, mark: string, waitFor: number): Promise<{ uid: number; flags: string[] }[]> {
  const client = new ImapFlow({
    host: s.imapHost, port: s.imapsPort, secure: true, auth: { user: s.admin, pass: s.adminPassword }, logger: false,
    tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
  });
  await client.connect();
  try {
    const lock = await client.getMailboxLock("INBOX");
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const uids = (await client.search({ body: mark }, { uid: true })) || [];
        if (uids.length >= waitFor || Date.now() > deadline) {
          const out: { uid: number; flags: string[] }[] = [];
          if (uids.length) for await (const m of client.fetch(uids.join(","), { uid: true, flags: true }, { uid: true })) out.push({ uid: m.uid, flags: [...(m.flags ?? [])].filter((f) => f !== "\\Recent").sort() }); // \Recent is per session, nobody sets it
          return out.sort((a, b) => a.uid - b.uid);
        }
        await Bun.sleep(100);
      }
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

async function setSeen(s: MailstackEnv, uid: number) {
  const client = new ImapFlow({
    host: s.imapHost, port: s.imapsPort, secure: true, auth: { user: s.admin, pass: s.adminPassword }, logger: false,
    tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
  });
  await client.connect();
  const lock = await client.getMailboxLock("INBOX");
  try {
    await client.messageFlagsAdd(String(uid), ["\\Seen"], { uid: true });
  } finally {
    lock.release();
    await client.logout();
  }
}

describe.skipIf(!stack)("collector against Postfix + Dovecot", () => {
  const s = stack!;

  test("STARTTLS + TLS_CA_FILE on an IP host: collects once, leaves flags alone, takes mail read elsewhere", async () => {
    const mark = marker();
    const c = collectorEnv(s);
    // a first run with no checkpoint only sets the starting point for mail already there
    const start = await runEntry("collector.ts", ["--once"], c.env, undefined, 60_000);
    expect(start.stderr).toBe("");
    expect(start.stdout).toContain("(TLS, one check)");

    await deliver(s, [
      { subject: "[Ticket #10001] Mailer", text: `ticket ${mark}` },
      { subject: `not a ticket ${mark}`, text: `plain ${mark}` },
    ]);
    const before = await flagsOf(s, mark, 2);
    expect(before).toHaveLength(2);
    await setSeen(s, before[1]!.uid); // read in another client before the collector looks

    const first = await runEntry("collector.ts", ["--once"], c.env, undefined, 60_000);
    expect(first.code).toBe(0);
    const mine = () => c.entries().filter((e) => String(e.text).includes(mark));
    expect(mine().map((e) => [e.uid, e.ticket ?? null, e.text])).toEqual([
      [before[0]!.uid, "10001", `ticket ${mark}`],
      [before[1]!.uid, null, `plain ${mark}`],
    ]);
    const second = await runEntry("collector.ts", ["--once"], c.env, undefined, 60_000);
    expect(second.code).toBe(0);
    expect(mine()).toHaveLength(2);
    // the collector changed no flag: the first still unread, the second as the other client left it
    expect(await flagsOf(s, mark, 2)).toEqual([
      { uid: before[0]!.uid, flags: before[0]!.flags },
      { uid: before[1]!.uid, flags: [...before[1]!.flags, "\\Seen"].sort() },
    ]);
  }, 90_000);

  test("implicit TLS (IMAPS), loop: Dovecot's IDLE wakes the collector for a new ticket (PERIOD_CHECK=60)", async () => {
    const mark = marker();
    const c = collectorEnv(s, { IMAP_PORT: String(s.imapsPort), IMAP_SECURE: "tls" });
    const proc = await startEntry("collector.ts", [], c.env, /Mailer collector watching .*\(TLS, IDLE, every 60 s\)/, 30_000);
    cleanups.push(() => void proc.proc.kill("SIGKILL"));
    await Bun.sleep(500);
    const sent = Date.now();
    await deliver(s, [{ subject: "Re: [Ticket #10002] Mailer", text: `idle ${mark}` }]);
    const deadline = Date.now() + 20_000;
    while (!c.entries().some((e) => String(e.text).includes(mark))) {
      if (Date.now() > deadline) throw new Error(`not logged within 20 s:\n${proc.output()}`);
      await Bun.sleep(20);
    }
    console.log(`Dovecot IDLE: ticket logged ${Date.now() - sent} ms after the SMTP send began`);
    expect(c.entries().find((e) => String(e.text).includes(mark))).toMatchObject({ ticket: "10002", reply: true });
    expect(await proc.stop("SIGTERM")).toBe(0);
  }, 60_000);

  test("wrong password → exit 2; a certificate from another CA → exit 2 with the TLS_CA_FILE hint", async () => {
    const wrong = await runEntry("collector.ts", ["--once"], { ...collectorEnv(s).env, EMAIL_PASSWORD: "not-the-password" }, undefined, 30_000);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`failed for EMAIL_LOGIN=${s.admin}`);
    expect(wrong.stderr).toContain("Check EMAIL_PASSWORD");
    const otherCa = await runEntry("collector.ts", ["--once"], collectorEnv(s, { TLS_CA_FILE: join(s.otherCaDir, "ca.pem") }).env, undefined, 30_000);
    expect(otherCa.code).toBe(2);
    expect(otherCa.stderr).toContain("TLS_CA_FILE");
  }, 60_000);
});
