// `bun run sandbox` as a process: what it prints, how it stops, a taken port.
import { expect, test, setDefaultTimeout } from "bun:test";
import net from "node:net";
import nodemailer from "nodemailer";
import { probePort } from "../../lib/sandbox";
import { baseEnv, freePort, REPO } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const PASSWORD = "cli-test-secret-pw";

function env() {
  return baseEnv({
    EMAIL_LOGIN: "admin@mailer.test",
    EMAIL_PASSWORD: PASSWORD,
    SMTP_HOST: "127.0.0.1",
    SMTP_PORT: String(freePort()),
    IMAP_HOST: "127.0.0.1",
    IMAP_PORT: String(freePort()),
    SANDBOX_WEB_PORT: String(freePort()),
  });
}

function spawnSandbox(e: Record<string, string>) {
  const proc = Bun.spawn(["bun", "--no-env-file", "scripts/sandbox.ts"], { cwd: REPO, env: e, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const decoder = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => { for await (const c of s) out += decoder.decode(c, { stream: true }); };
  const done = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  return { proc, done, output: () => out };
}

test("prints ports, the login (never the password) and how to stop; shows other mail; SIGTERM frees the ports", async () => {
  const e = env();
  const s = spawnSandbox(e);
  try {
    const deadline = Date.now() + 10_000;
    while (!s.output().includes("press Ctrl-C to stop") && Date.now() < deadline && s.proc.exitCode === null) await Bun.sleep(20);
    expect(s.output()).toContain(`[sandbox] SMTP  127.0.0.1:${e.SMTP_PORT}`);
    expect(s.output()).toContain(`[sandbox] IMAP  127.0.0.1:${e.IMAP_PORT}`);
    expect(s.output()).toContain("[sandbox] login admin@mailer.test");
    const t = nodemailer.createTransport({ host: "127.0.0.1", port: Number(e.SMTP_PORT), secure: false, auth: { user: "admin@mailer.test", pass: PASSWORD } });
    await t.sendMail({ from: "admin@mailer.test", to: "ivan@example.com", subject: "Тест", text: "Привет!" });
    t.close();
    while (!s.output().includes("mail to ivan@example.com") && Date.now() < deadline) await Bun.sleep(20);
    expect(s.output()).toContain(`[sandbox] mail to ivan@example.com: "Тест" — Привет!`);
    expect(s.output()).toContain(`[sandbox] web inbox http://127.0.0.1:${e.SANDBOX_WEB_PORT}/`);
    const caught = (await (await fetch(`http://127.0.0.1:${e.SANDBOX_WEB_PORT}/api/messages`)).json()) as { subject: string }[];
    expect(caught.map((m: { subject: string }) => m.subject)).toEqual(["Тест"]);
  } finally {
    s.proc.kill("SIGTERM");
  }
  expect(await s.proc.exited).toBe(0);
  await s.done;
  expect(s.output()).toContain("[sandbox] stopped (SIGTERM)");
  expect(s.output()).not.toContain(PASSWORD);
  expect(await probePort("127.0.0.1", Number(e.SMTP_PORT))).toBeNull();
  expect(await probePort("127.0.0.1", Number(e.IMAP_PORT))).toBeNull();
}, 20_000);

test("a taken port is named with its key, exit 2, nothing left listening", async () => {
  const e = env();
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(Number(e.SMTP_PORT), "127.0.0.1", () => r()));
  try {
    const s = spawnSandbox(e);
    expect(await s.proc.exited).toBe(2);
    await s.done;
    expect(s.output()).toContain(`Cannot start the sandbox: SMTP_PORT ${e.SMTP_PORT} is already in use — stop whatever listens there or change SMTP_PORT in .env.local`);
    expect(await probePort("127.0.0.1", Number(e.IMAP_PORT))).toBeNull();
  } finally {
    await new Promise((r) => blocker.close(r));
  }
}, 15_000);

test("a missing key is reported by name with exit 2", async () => {
  const e = env();
  delete e.EMAIL_PASSWORD;
  const s = spawnSandbox(e);
  expect(await s.proc.exited).toBe(2);
  await s.done;
  expect(s.output()).toContain("EMAIL_PASSWORD is not set");
}, 15_000);
