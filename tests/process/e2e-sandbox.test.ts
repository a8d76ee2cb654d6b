// End to end on the embedded sandbox: the real client, server and collector processes, every
// port free and chosen here, logs and state in a temp dir.
// client → server → SMTP (sandbox) → IMAP (sandbox) → collector → success_request.log
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { loadConfig } from "../../lib/shared/config";
import { startSandbox, type Sandbox } from "../../lib/sandbox";
import { runEntry, startEntry, tempDir, sandboxEnv } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const LOGIN = "admin@mailer.test";
const PASS = "e2e-sandbox-password";
const dir = tempDir("mailer-e2e-sandbox-");
// PERIOD_CHECK long on purpose: the collector must wake through IDLE, not the timer
const env = sandboxEnv(dir.path, { EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASS, ADMIN_EMAIL: LOGIN, PERIOD_CHECK: "60" });
const otherMail: string[] = [];
let sandbox: Sandbox;
let server: Awaited<ReturnType<typeof startEntry>>;
let collector: Awaited<ReturnType<typeof startEntry>>;

beforeAll(async () => {
  const result = loadConfig(env, "sandbox");
  if (!result.ok) throw new Error(result.errors.join("; "));
  sandbox = await startSandbox(result.config, { onOtherMail: (l) => otherMail.push(l) });
  [server, collector] = await Promise.all([
    startEntry("server.ts", [], env, /listening on/i),
    startEntry("collector.ts", [], env, /Mailer collector watching/),
  ]);
}, 30_000);

afterAll(async () => {
  await Promise.all([server?.stop(), collector?.stop()]);
  await sandbox?.close();
  dir.cleanup();
});

type Entry = Record<string, any>;

/** Waits until `file` in LOG_DIR has an entry matching `match`. */
async function logEntry(file: string, match: (e: Entry) => boolean, timeoutMs = 10_000): Promise<Entry> {
  const path = join(env.LOG_DIR!, file);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      for (const line of readFileSync(path, "utf8").split("\n")) {
        if (!line.trim()) continue;
        const entry = JSON.parse(line) as Entry;
        if (match(entry)) return entry;
      }
    }
    await Bun.sleep(50);
  }
  throw new Error(`no matching entry in ${file} within ${timeoutMs} ms; collector output:\n${collector.output()}`);
}

function adminTransport() {
  return nodemailer.createTransport({ host: "127.0.0.1", port: Number(env.SMTP_PORT), secure: false, auth: { user: LOGIN, pass: PASS } });
}

test("a ticket with Cyrillic text goes client → server → SMTP → IMAP → collector → success_request.log", async () => {
  const message = "Здравствуйте! Не приходит письмо 📭\nВторая строка: ёжик, щука, «кавычки»";
  const run = await runEntry("client.ts", ["-e", "ivan@example.com", "-m", message], env);
  expect(run.code).toBe(0);
  const ticket = run.stdout.match(/Ticket #(\d{5,})/)?.[1];
  expect(ticket).toBeDefined();

  const entry = await logEntry("success_request.log", (e) => e.ticket === ticket);
  expect(entry.text.trim()).toBe(message);
  expect(entry.subject).toBe(`[Ticket #${ticket}] Mailer`);
  expect(entry.from).toContain(LOGIN);
  expect(typeof entry.uid).toBe("number");
  // The user's copy went to the user, shown by the sandbox (nothing leaves the machine)
  expect(otherMail).toContain(`mail to ivan@example.com: "[Ticket #${ticket}] Mailer" — Здравствуйте! Не приходит письмо 📭`);
}, 30_000);

test("an ordinary message to the admin lands in error_request.log with its text", async () => {
  const t = adminTransport();
  try {
    await t.sendMail({ from: "maria@example.com", to: LOGIN, subject: "Где мой заказ?", text: "Добрый день, заказ №42 не пришёл." });
  } finally {
    t.close();
  }
  const entry = await logEntry("error_request.log", (e) => e.subject === "Где мой заказ?");
  expect(entry.text.trim()).toBe("Добрый день, заказ №42 не пришёл.");
  expect(entry.from).toContain("maria@example.com");
  expect(entry.reason).toBeTruthy();
  expect(entry.ticket).toBeUndefined();
}, 20_000);

test("a user's reply to a ticket mail is logged as that ticket, marked as a reply", async () => {
  const t = adminTransport();
  try {
    await t.sendMail({ from: "ivan@example.com", to: LOGIN, subject: "Re: [Ticket #10777] Mailer", text: "Спасибо, всё работает!" });
  } finally {
    t.close();
  }
  const entry = await logEntry("success_request.log", (e) => e.ticket === "10777");
  expect(entry.text.trim()).toBe("Спасибо, всё работает!");
  expect(entry.reply).toBe(true);
}, 20_000);
