// MAIL_PROTOCOL=pop3 through the whole system on the sandbox: `bun run demo` (sandbox with its
// POP3 side, server, client, collector as real processes), twice on the same LOG_DIR/STATE_DIR;
// and the configuration mistakes a person can make with the POP3 keys, each named, exit 2.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { probePort } from "../../lib/sandbox";
import { startSandboxPop3 } from "../../lib/sandbox/pop3";
import { freePort, REPO, runEntry, sandboxEnv, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function pop3Env(extra: Record<string, string> = {}) {
  const dir = tempDir("mailer-pop3-demo-");
  cleanups.push(dir.cleanup);
  return sandboxEnv(dir.path, { MAIL_PROTOCOL: "pop3", POP3_HOST: "127.0.0.1", POP3_PORT: String(freePort()), ...extra });
}

async function demo(env: Record<string, string>) {
  const proc = Bun.spawn(["bun", "--no-env-file", "scripts/demo.ts"], { cwd: REPO, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 40_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test("MAIL_PROTOCOL=pop3 bun run demo: the ticket goes through the sandbox's POP3 side, twice on the same dirs", async () => {
  const env = pop3Env({ PERIOD_CHECK: "1" });
  const first = await demo(env);
  if (first.code !== 0) console.error(first.stdout, first.stderr);
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/\[collector\] \S+Z Mailer collector watching admin@mailer\.test INBOX on 127\.0\.0\.1:\d+ \(no TLS, every 1 s; POP3 has no IDLE\)/);
  expect(first.stdout).toMatch(/✓ Ticket \d{5,} went client → server → SMTP → POP3 → collector/);
  // a new sandbox: new UIDLs (UIDVALIDITY.UID), so the UID map of the first run hides nothing
  const second = await demo(env);
  expect(second.code).toBe(0);
  const log = readFileSync(join(env.LOG_DIR!, "success_request.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(log.map((e) => e.ticket)).toHaveLength(2);
  expect(new Set(log.map((e) => e.uid)).size).toBe(2);
  expect(await probePort("127.0.0.1", Number(env.POP3_PORT))).toBeNull();
}, 90_000);

test("POP3 configuration mistakes are reported by name, all at once, exit 2", async () => {
  const r = await runEntry("collector.ts", ["--once"], pop3Env({ MAIL_PROTOCOL: "pop3", POP3_HOST: "", POP3_PORT: "99999", POP3_SECURE: "ssl", IMAP_HOST: "", IMAP_PORT: "" }));
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("POP3_HOST is not set");
  expect(r.stderr).toContain('POP3_PORT="99999" is not valid');
  expect(r.stderr).toContain('POP3_SECURE="ssl" is not valid');
  expect(r.stderr).not.toContain("IMAP_HOST"); // not needed for POP3
  const proto = await runEntry("collector.ts", ["--once"], pop3Env({ MAIL_PROTOCOL: "pop" }));
  expect(proto.code).toBe(2);
  expect(proto.stderr).toContain('MAIL_PROTOCOL="pop" is not valid — use "imap" (default) or "pop3"');
  const sandbox = await demo(pop3Env({ POP3_PORT: "995" }));
  expect(sandbox.code).toBe(2);
  expect(sandbox.stderr).toContain("POP3_PORT=995 means implicit TLS, which the sandbox does not speak");
}, 60_000);

test("--debug shows the POP3 conversation with the password masked, in no output or file", async () => {
  const password = "p0p-s3cret!";
  const env = pop3Env({ EMAIL_PASSWORD: password });
  const source = Buffer.from("Subject: [Ticket #10001] Mailer\r\n\r\nhello\r\n");
  const messages: { id: string; size: number; read: () => Buffer }[] = [];
  const pop3 = await startSandboxPop3({ port: Number(env.POP3_PORT), users: { [env.EMAIL_LOGIN!]: password }, list: () => messages });
  cleanups.push(() => pop3.close());
  expect((await runEntry("collector.ts", ["--once"], env)).code).toBe(0);
  messages.push({ id: "m1", size: source.length, read: () => source });
  const r = await runEntry("collector.ts", ["--once", "--debug"], env);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("uid 1: ticket 10001");
  expect(r.stderr).toContain("C: AUTH PLAIN ***");
  expect(r.stderr).toContain("C: RETR 1");
  expect(r.stderr).not.toContain("DELE");
  const all = r.stdout + r.stderr + readFileSync(join(env.LOG_DIR!, "success_request.log"), "utf8");
  expect(all).not.toContain(password);
  expect(all).not.toContain(Buffer.from(`\0${env.EMAIL_LOGIN}\0${password}`).toString("base64"));
}, 60_000);
