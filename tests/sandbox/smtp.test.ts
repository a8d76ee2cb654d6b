import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import net from "node:net";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { loadConfig, type Config } from "../../lib/shared/config";
import { checkPorts, probePort, SandboxPortError, sandboxConfigProblems, startSandbox, type Sandbox } from "../../lib/sandbox";
import { startSandboxSmtp, type SandboxSmtp } from "../../lib/sandbox/smtp";
import { freePort } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const LOGIN = "admin@mailer.test";
const PASS = "sandbox-test-password";
const running: { close(): Promise<void> }[] = [];
const transports: { close(): void }[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  for (const s of running.splice(0)) await s.close();
});

function config(overrides: Record<string, string> = {}): Config {
  const result = loadConfig(
    { EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASS, SMTP_HOST: "127.0.0.1", SMTP_PORT: String(freePort()), IMAP_HOST: "127.0.0.1", IMAP_PORT: String(freePort()), ...overrides },
    "sandbox",
  );
  if (!result.ok) throw new Error(result.errors.join("; "));
  return result.config;
}

async function sandbox(cfg = config()) {
  const lines: string[] = [];
  const adminLines: string[] = [];
  const s = await startSandbox(cfg, { onOtherMail: (l) => lines.push(l), onAdminMail: (l) => adminLines.push(l) });
  running.push(s);
  return { s, lines, adminLines };
}

async function smtpOnly(opts: Partial<Parameters<typeof startSandboxSmtp>[0]> = {}) {
  const delivered: Buffer[] = [];
  const lines: string[] = [];
  const s: SandboxSmtp = await startSandboxSmtp({
    port: 0, login: LOGIN, password: PASS, adminEmail: LOGIN,
    deliverToAdmin: async (raw) => { delivered.push(raw); return delivered.length; },
    onOtherMail: (l) => lines.push(l),
    ...opts,
  });
  running.push(s);
  return { s, delivered, lines };
}

function transport(port: number, user = LOGIN, pass = PASS, extra: Record<string, unknown> = {}) {
  const t = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, auth: { user, pass }, ...extra });
  transports.push(t);
  return t;
}

async function imapClient(port: number) {
  const c = new ImapFlow({ host: "127.0.0.1", port, secure: false, auth: { user: LOGIN, pass: PASS }, logger: false, disableAutoIdle: true });
  c.on("error", () => {});
  await c.connect();
  running.push({ close: () => c.logout().catch(() => c.close()) });
  return c;
}

test("AUTH PLAIN and AUTH LOGIN with the configured credentials are accepted", async () => {
  const { s, lines } = await smtpOnly();
  for (const method of ["PLAIN", "LOGIN"]) {
    const info = await transport(s.port, LOGIN, PASS, { authMethod: method }).sendMail({ from: LOGIN, to: "ivan@example.com", subject: method, text: "hi" });
    expect(info.accepted).toEqual(["ivan@example.com"]);
  }
  expect(lines).toHaveLength(2);
});

test("any other login or password is refused with 535, and mail without AUTH with 530", async () => {
  const { s, lines, delivered } = await smtpOnly();
  for (const [user, pass] of [[LOGIN, "wrong"], ["someone@mailer.test", PASS], ["testuser", "testpass"]]) {
    for (const method of ["PLAIN", "LOGIN"]) {
      const err = await transport(s.port, user!, pass!, { authMethod: method }).sendMail({ from: LOGIN, to: LOGIN, text: "x" }).then(() => null, (e) => e);
      expect(err?.code).toBe("EAUTH");
      expect(err?.responseCode).toBe(535);
    }
  }
  const anon = nodemailer.createTransport({ host: "127.0.0.1", port: s.port, secure: false });
  transports.push(anon);
  const err = await anon.sendMail({ from: LOGIN, to: LOGIN, text: "x" }).then(() => null, (e) => e);
  expect(err?.responseCode).toBe(530);
  expect(delivered).toHaveLength(0);
  expect(lines).toHaveLength(0);
});

test("STARTTLS is not offered: the server is plain loopback", async () => {
  const { s } = await smtpOnly();
  const reply = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const sock = net.connect(s.port, "127.0.0.1");
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.startsWith("220") && !buf.includes("EHLO")) { sock.write("EHLO test\r\n"); buf += "EHLO\n"; }
      if (/\r\n250 [^\r\n]*\r\n$/.test(buf)) { sock.end("QUIT\r\n"); resolve(buf); }
    });
    sock.on("error", reject);
  });
  expect(reply).toContain("AUTH PLAIN LOGIN");
  expect(reply).not.toContain("STARTTLS");
});

test("mail to the admin lands in the admin's IMAP inbox, raw, and imapflow fetches it", async () => {
  const { s, lines, adminLines } = await sandbox(config({ ADMIN_EMAIL: "Admin@Mailer.test" }));
  const t = transport(s.smtpPort);
  const text = "Привет, мир! 👋\nВторая строка";
  // Recipient case differs from ADMIN_EMAIL: addresses' domains are case-insensitive in practice
  await t.sendMail({ from: LOGIN, to: "admin@mailer.test", replyTo: "ivan@example.com", subject: "[Ticket #10001] Mailer", text });
  expect(lines).toHaveLength(0);
  expect(adminLines).toEqual([`mail to Admin@Mailer.test → IMAP inbox (uid 1): "[Ticket #10001] Mailer" — Привет, мир! 👋`]);

  const c = await imapClient(s.imapPort);
  const box = await c.mailboxOpen("INBOX");
  expect(box.uidValidity).toBe(BigInt(s.uidValidity));
  const messages = [];
  for await (const m of c.fetch("1:*", { uid: true, envelope: true, source: true, flags: true }, { uid: true })) messages.push(m);
  expect(messages).toHaveLength(1);
  const m = messages[0]!;
  expect(m.envelope?.subject).toBe("[Ticket #10001] Mailer");
  expect(m.flags?.has("\\Seen")).toBe(false);
  const { simpleParser } = require("mailparser");
  const parsed = await simpleParser(m.source);
  expect(parsed.text.trim()).toBe(text);
  expect(parsed.replyTo.value[0].address).toBe("ivan@example.com");
});

test("a message for the admin and someone else goes to the inbox and is printed for the other recipient", async () => {
  const { s, lines } = await sandbox();
  await transport(s.smtpPort).sendMail({ from: LOGIN, to: [LOGIN, "ivan@example.com"], subject: "both", text: "hello" });
  expect(lines).toEqual([`mail to ivan@example.com: "both" — hello`]);
  expect(s.imap.messages()).toHaveLength(1);
});

test("mail for anyone else is printed as one line: recipient, decoded subject, first line of text", async () => {
  const { s, lines, delivered } = await smtpOnly();
  const t = transport(s.port);
  await t.sendMail({ from: LOGIN, to: "ivan@example.com", subject: "[Ticket #10001] Mailer", text: "\n\n  Hello!  \nsecond line" });
  // Subject in RFC 2047 (nodemailer encodes non-ASCII), a terminal escape and a long first line
  await t.sendMail({ from: LOGIN, to: "мария@пример.рф", subject: "Тема \u001b[31mкрасная", text: "Я".repeat(300) + "\nnext" });
  await t.sendMail({ from: LOGIN, to: "x@example.com", text: "" });
  expect(delivered).toHaveLength(0);
  expect(lines[0]).toBe(`mail to ivan@example.com: "[Ticket #10001] Mailer" — Hello!`);
  expect(lines[1]).toBe(`mail to мария@пример.рф: "Тема красная" — ${"Я".repeat(120)}…`);
  expect(lines[2]).toBe(`mail to x@example.com: (no subject) (no text)`);
  for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f]/);
});

test("an oversized message is refused with 552 and not delivered", async () => {
  const { s, delivered } = await smtpOnly({ sizeLimit: 10_000 });
  const err = await transport(s.port).sendMail({ from: LOGIN, to: LOGIN, text: "x".repeat(20_000) }).then(() => null, (e) => e);
  expect(err?.responseCode).toBe(552);
  expect(delivered).toHaveLength(0);
});

test("when the inbox cannot take the message, the sender is told to retry later (451)", async () => {
  const { s } = await smtpOnly({ deliverToAdmin: async () => { throw new Error("inbox closed"); } });
  const err = await transport(s.port).sendMail({ from: LOGIN, to: LOGIN, text: "x" }).then(() => null, (e) => e);
  expect(err?.responseCode).toBe(451);
  expect(err?.response).toContain("inbox closed");
});

test("close frees both ports, even with a pooled client still connected", async () => {
  const cfg = config();
  const { s } = await sandbox(cfg);
  const pooled = transport(s.smtpPort, LOGIN, PASS, { pool: true });
  await pooled.sendMail({ from: LOGIN, to: "ivan@example.com", text: "x" });
  await imapClient(s.imapPort);
  running.splice(running.indexOf(s), 1);
  await s.close();
  expect(await probePort("127.0.0.1", cfg.smtp.port)).toBeNull();
  expect(await probePort("127.0.0.1", cfg.imap.port)).toBeNull();
});

test("a taken port fails with the key's name, leaving nothing listening", async () => {
  const cfg = config();
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(cfg.smtp.port, "127.0.0.1", () => r()));
  try {
    const err = await startSandbox(cfg, { onOtherMail() {} }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(SandboxPortError);
    expect(err.message).toBe(`SMTP_PORT ${cfg.smtp.port} is already in use — stop whatever listens there or change SMTP_PORT in .env.local`);
    // IMAP started first and must have been closed again
    expect(await probePort("127.0.0.1", cfg.imap.port)).toBeNull();
  } finally {
    await new Promise((r) => blocker.close(r));
  }
  const imapBlocker = net.createServer();
  await new Promise<void>((r) => imapBlocker.listen(cfg.imap.port, "127.0.0.1", () => r()));
  try {
    const err = await startSandbox(cfg, { onOtherMail() {} }).then(() => null, (e) => e);
    expect(err?.key).toBe("IMAP_PORT");
    expect(await probePort("127.0.0.1", cfg.smtp.port)).toBeNull();
  } finally {
    await new Promise((r) => imapBlocker.close(r));
  }
});

test("checkPorts names every unusable key, and duplicates", async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
  const taken = (blocker.address() as net.AddressInfo).port;
  const free = freePort();
  try {
    expect(await checkPorts([{ key: "SMTP_PORT", host: "127.0.0.1", port: free }])).toEqual([]);
    expect(await checkPorts([
      { key: "SMTP_PORT", host: "127.0.0.1", port: free },
      { key: "IMAP_PORT", host: "127.0.0.1", port: free },
      { key: "SERVER_PORT", host: "127.0.0.1", port: taken },
    ])).toEqual([
      `SMTP_PORT and IMAP_PORT are both ${free} — give them different ports in .env.local`,
      `SERVER_PORT ${taken} is already in use — stop whatever listens there or change SERVER_PORT in .env.local`,
    ]);
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});

test("a configuration for a real account is refused for the sandbox, with what to change", () => {
  expect(sandboxConfigProblems(config())).toEqual([]);
  expect(sandboxConfigProblems(config({ SMTP_HOST: "smtp.gmail.com", SMTP_PORT: "465", IMAP_SECURE: "starttls" }))).toEqual([
    "SMTP_HOST=smtp.gmail.com is not a loopback address; the sandbox listens on 127.0.0.1 only — set SMTP_HOST=127.0.0.1 (is .env.local pointing at a real mail account?)",
    "SMTP_PORT=465 means implicit TLS, which the sandbox does not speak — use another port (.env has 2525)",
    "IMAP_SECURE=starttls, but the sandbox speaks plain IMAP on loopback (no TLS) — leave IMAP_SECURE unset",
  ]);
});

test("a burst of mail to others is summed up on the console (clock held still: everything after the first 5 is one line at close)", async () => {
  const lines: string[] = [];
  const cfg = config();
  const s = await startSandbox(cfg, { onOtherMail: (l) => lines.push(l) }, { bursts: { now: () => 0, setTimer: () => 0, clearTimer: () => {} } });
  const t = nodemailer.createTransport({ host: "127.0.0.1", port: s.smtpPort, secure: false, auth: { user: LOGIN, pass: PASS }, pool: true });
  transports.push(t);
  await Promise.all(Array.from({ length: 30 }, (_, i) => t.sendMail({ from: LOGIN, to: `p${i}@example.com`, subject: `burst ${i}`, text: "x" })));
  await s.close();
  expect(lines.slice(0, 5).every((l) => l.startsWith("mail to p"))).toBe(true);
  expect(lines).toHaveLength(6);
  expect(lines[5]).toMatch(/^… 25 more mails in 0\.0 s \(the last: mail to p\d+@example\.com: "burst \d+" — x\)$/);
});

test("a mail's line is printed only once the message is caught (the web inbox has it when the line is on screen)", async () => {
  // the catch (lib/sandbox/store.ts add: a parse) may take longer than the line's own summary;
  // under load `bun run sandbox` printed the line while /api/messages was still empty
  let caught = 0;
  const seenWhenPrinted: number[] = [];
  const { s } = await smtpOnly({
    onMessage: async () => {
      await Bun.sleep(300);
      caught++;
    },
    onOtherMail: () => seenWhenPrinted.push(caught),
    onAdminMail: () => seenWhenPrinted.push(caught),
  });
  await transport(s.port).sendMail({ from: LOGIN, to: ["ivan@example.com", LOGIN], subject: "Тест", text: "Привет!" });
  expect(seenWhenPrinted).toEqual([1, 1]);
});
