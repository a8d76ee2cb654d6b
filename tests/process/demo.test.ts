// `bun run demo` as a person runs it, with every port free and logs in a temp dir.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import net from "node:net";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { probePort } from "../../lib/sandbox";
import { REPO, tempDir, sandboxEnv } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function demoEnv(extra: Record<string, string> = {}) {
  const dir = tempDir("mailer-demo-");
  cleanups.push(dir.cleanup);
  const env = sandboxEnv(dir.path, extra);
  return { env, dir: dir.path };
}

/** `bun scripts/demo.ts` without loading the repo's .env files: the test gives every key. */
function spawnDemo(env: Record<string, string>) {
  return Bun.spawn(["bun", "--no-env-file", "scripts/demo.ts"], { cwd: REPO, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
}

async function runDemo(env: Record<string, string>, timeoutMs = 30_000) {
  const proc = spawnDemo(env);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

async function portsFree(env: Record<string, string>) {
  return Promise.all(["SMTP_PORT", "IMAP_PORT", "SERVER_PORT", "SANDBOX_WEB_PORT", "WEB_PORT"].map((k) => probePort("127.0.0.1", Number(env[k]))));
}

test("the demo sends a ticket through the real parts, prints the logged entry and exits 0", async () => {
  const { env } = demoEnv();
  const { code, stdout, stderr } = await runDemo(env);
  if (code !== 0) console.error(stdout, stderr);
  expect(code).toBe(0);
  const ticket = stdout.match(/✓ Ticket (\d{5,}) went client → server → SMTP → IMAP → collector/)?.[1];
  expect(ticket).toBeDefined();
  expect(stdout).toMatch(new RegExp(`\\n    subject +\\[Ticket #${ticket}\\] Mailer\\n`));
  expect(stdout).toContain("Здравствуйте! Это демо Mailer 📬");
  // The user's copy is shown by the sandbox; the admin's copy went to the inbox
  expect(stdout).toContain(`[sandbox] mail to ivan@example.com: "[Ticket #${ticket}] Mailer" — Здравствуйте! Это демо Mailer 📬`);
  // The entry stays in LOG_DIR for the person to look at
  const log = readFileSync(join(env.LOG_DIR!, "success_request.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(log).toHaveLength(1);
  expect(log[0].ticket).toBe(ticket);
  expect(log[0].text.trim()).toBe("Здравствуйте! Это демо Mailer 📬\nВторая строка — всё на месте ✅");
  expect(await portsFree(env)).toEqual([null, null, null, null, null]);
  // the client command it shows can be pasted into bash: bash reads back the same two-line message
  const command = /→ sending a ticket with the real client: (bun client\.ts .*)$/m.exec(stdout)?.[1];
  expect(command).toContain("$'");
  const echoed = Bun.spawnSync(["bash", "-c", `set -- ${command!.replace(/^bun client\.ts /, "")}; printf %s "$4"`]);
  expect(echoed.stdout.toString()).toBe("Здравствуйте! Это демо Mailer 📬\nВторая строка — всё на месте ✅");
}, 40_000);

test("a second demo on the same LOG_DIR/STATE_DIR finds its own ticket (fresh UIDVALIDITY, no stale checkpoint)", async () => {
  const { env } = demoEnv();
  const first = await runDemo(env);
  expect(first.code).toBe(0);
  const second = await runDemo(env);
  if (second.code !== 0) console.error(second.stdout, second.stderr);
  expect(second.code).toBe(0);
  const tickets = [first.stdout, second.stdout].map((s) => s.match(/✓ Ticket (\d{5,})/)?.[1]);
  expect(Number(tickets[1])).toBeGreaterThan(Number(tickets[0]));
  const log = readFileSync(join(env.LOG_DIR!, "success_request.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(log.map((e) => e.ticket)).toEqual(tickets);
  // the sandbox's new inbox at the second start is the normal case there, not a fault
  expect(second.stdout).toContain("The sandbox's in-memory INBOX is new since the last run");
  expect(second.stdout).not.toMatch(/renumbered|UIDVALIDITY of INBOX changed/);
}, 70_000);

test("a taken port: the demo names the key and port, starts nothing and exits non-zero", async () => {
  for (const key of ["SMTP_PORT", "IMAP_PORT", "SERVER_PORT", "SANDBOX_WEB_PORT", "WEB_PORT"]) {
    const { env } = demoEnv();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(Number(env[key]), "127.0.0.1", () => r()));
    try {
      const { code, stdout, stderr } = await runDemo(env);
      expect(code).toBe(2);
      expect(stderr).toContain(`${key} ${env[key]} is already in use — stop whatever listens there or change ${key} in .env.local`);
      expect(stderr).toContain("Nothing was started.");
      expect(stdout).not.toContain("[server]");
      expect(stdout).not.toContain("[sandbox]");
      const free = await portsFree(env);
      expect(free.filter((f) => f !== null)).toEqual(["EADDRINUSE"]); // only the blocker's port
      expect(existsSync(env.STATE_DIR!)).toBe(false); // the server never ran
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  }
}, 30_000);

test("a configuration for a real mail account is refused before anything starts", async () => {
  const { env } = demoEnv({ SMTP_HOST: "smtp.example.com", SMTP_PORT: "465" });
  const { code, stderr } = await runDemo(env);
  expect(code).toBe(2);
  expect(stderr).toContain("SMTP_HOST=smtp.example.com is not a loopback address");
  expect(stderr).toContain("SMTP_PORT=465 means implicit TLS");
}, 15_000);

test("SIGINT (Ctrl-C) while running stops the server, the collector and the sandbox", async () => {
  // A PERIOD_CHECK-only wait would be long: interrupt as soon as the server is up.
  const { env } = demoEnv();
  const proc = spawnDemo(env);
  cleanups.push(() => { proc.kill("SIGKILL"); });
  let out = "";
  const decoder = new TextDecoder();
  const reader = (async () => { for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true }); })();
  const stderr = new Response(proc.stderr).text();
  const deadline = Date.now() + 15_000;
  while (!/\[server\].*listening on/i.test(out) && Date.now() < deadline && proc.exitCode === null) await Bun.sleep(20);
  if (!/\[server\].*listening on/i.test(out)) throw new Error(`the demo did not get as far as the server: ${out}${proc.exitCode !== null ? await stderr : ""}`);
  proc.kill("SIGINT");
  expect(await proc.exited).toBe(130);
  await reader;
  expect(out).toContain("Interrupted (SIGINT) — stopping everything");
  expect(await portsFree(env)).toEqual([null, null, null, null, null]);
}, 30_000);
