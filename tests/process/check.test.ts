// `bun server.ts --check` and `bun collector.ts --check` (issue #13) as real processes against
// local servers: a smtp-server with AUTH (plain and STARTTLS with a private CA) and the sandbox
// IMAP. Exit 0 when it works, 2 for a wrong login or certificate, 3 when unreachable; what works
// is said step by step, the password never.
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { startSandboxPop3 } from "../../lib/sandbox/pop3";
import { baseEnv, freePort, REPO, runEntry, tempDir } from "../helpers/env";
import { ADMIN, serverEnv } from "../helpers/hardening";
import { startSmtpSink } from "../helpers/smtp-sink";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const PASSWORD = "check-Pa55word";
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const dir = tempDir("mailer-check-");
cleanups.push(dir.cleanup);
const fixtures = join(REPO, "tests/fixtures/tls");
const tls = { key: readFileSync(join(fixtures, "server.key"), "utf8"), cert: readFileSync(join(fixtures, "server.pem"), "utf8") };

const said = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

describe("bun server.ts --check", () => {
  test("login accepted: exit 0, each step said; wrong password: exit 2 naming EMAIL_LOGIN; nothing listening: exit 3", async () => {
    const smtp = await startSmtpSink({ auth: { user: ADMIN, pass: PASSWORD } });
    cleanups.push(() => smtp.close());
    const good = await runEntry("server.ts", ["--check"], serverEnv(smtp.port, dir.path, PASSWORD));
    expect({ code: good.code, out: good.stdout }).toEqual({ code: 0, out: expect.stringContaining(`✓ login accepted for EMAIL_LOGIN=${ADMIN}`) });
    expect(good.stdout).toContain("✓ connected; the server greeted and answered EHLO");
    expect(good.stdout).toContain("! no TLS");
    expect(good.stdout).toContain(`OK: the server can send mail through 127.0.0.1:${smtp.port}`);
    expect(smtp.messages).toEqual([]); // nothing is sent

    const wrong = await runEntry("server.ts", ["--check"], serverEnv(smtp.port, dir.path, "not-the-password"));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`✗ the SMTP server at 127.0.0.1:${smtp.port} refused the login for EMAIL_LOGIN=${ADMIN}`);
    expect(said(wrong)).not.toContain("not-the-password");

    const down = await runEntry("server.ts", ["--check"], serverEnv(freePort(), dir.path, PASSWORD));
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/✗ cannot connect to the SMTP server at 127\.0\.0\.1:\d+: connection refused/);
  }, 30_000);

  test("STARTTLS with a private CA: exit 2 with the TLS_CA_FILE hint without it; exit 0 with it, saying the certificate was verified", async () => {
    const smtp = await startSmtpSink({ tls, auth: { user: ADMIN, pass: PASSWORD } });
    cleanups.push(() => smtp.close());
    const untrusted = await runEntry("server.ts", ["--check"], serverEnv(smtp.port, dir.path, PASSWORD));
    expect(untrusted.code).toBe(2);
    expect(untrusted.stderr).toContain("set TLS_CA_FILE");
    const trusted = await runEntry("server.ts", ["--check"], serverEnv(smtp.port, dir.path, PASSWORD, { TLS_CA_FILE: join(fixtures, "ca.pem"), SMTP_SECURE: "starttls" }));
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain("✓ TLS (STARTTLS): the certificate was verified");
  }, 30_000);
});

describe("bun collector.ts --check", () => {
  const env = (port: number, password: string) =>
    baseEnv({ EMAIL_LOGIN: ADMIN, EMAIL_PASSWORD: password, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: join(dir.path, "logs"), STATE_DIR: join(dir.path, "state") });

  test("login accepted: exit 0 with the INBOX's count, logs untouched; wrong password: exit 2; nothing listening: exit 3", async () => {
    const imap = await startSandboxImap({ port: 0, users: { [ADMIN]: PASSWORD } });
    cleanups.push(() => imap.close());
    await imap.append(`From: p@example.com\r\nTo: ${ADMIN}\r\nSubject: hello\r\n\r\nhello\r\n`);
    const good = await runEntry("collector.ts", ["--check"], env(imap.port, PASSWORD));
    expect({ code: good.code, out: good.stdout }).toEqual({ code: 0, out: expect.stringContaining("✓ INBOX opened read-only: 1 message;") });
    expect(good.stdout).toContain(`✓ connected and logged in as EMAIL_LOGIN=${ADMIN}`);
    expect(good.stdout).toContain("OK: the collector can read");
    expect(await Bun.file(join(dir.path, "logs", "success_request.log")).exists()).toBe(false);

    const wrong = await runEntry("collector.ts", ["--check"], env(imap.port, "not-the-password"));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`✗ IMAP login to 127.0.0.1:${imap.port} failed for EMAIL_LOGIN=${ADMIN}`);
    expect(said(wrong)).not.toContain("not-the-password");

    const down = await runEntry("collector.ts", ["--check"], env(freePort(), PASSWORD));
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("✗ Cannot check the IMAP server");
  }, 30_000);

  test("MAIL_PROTOCOL=pop3: the same check over POP3 (exit 0 with the count; wrong password exit 2 naming POP3)", async () => {
    const raw = Buffer.from(`From: p@example.com\r\nTo: ${ADMIN}\r\nSubject: hello\r\n\r\nhello\r\n`);
    const pop3 = await startSandboxPop3({ port: 0, users: { [ADMIN]: PASSWORD }, list: () => [{ id: "m1", size: raw.length, read: () => raw }] });
    cleanups.push(() => pop3.close());
    const pop3Env = (password: string) => ({ ...env(freePort(), password), MAIL_PROTOCOL: "pop3", POP3_HOST: "127.0.0.1", POP3_PORT: String(pop3.port), IMAP_HOST: "", IMAP_PORT: "" });
    const good = await runEntry("collector.ts", ["--check"], pop3Env(PASSWORD));
    expect({ code: good.code, out: good.stdout }).toEqual({ code: 0, out: expect.stringContaining(`Checking POP3 127.0.0.1:${pop3.port}`) });
    expect(good.stdout).toContain("✓ INBOX opened read-only: 1 message;");
    const wrong = await runEntry("collector.ts", ["--check"], pop3Env("not-the-password"));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`✗ POP3 login to 127.0.0.1:${pop3.port} failed for EMAIL_LOGIN=${ADMIN}`);
    expect(said(wrong)).not.toContain("not-the-password");
  }, 30_000);
});
