// collector.ts as a real process against the embedded IMAP server (hoodiecrow) on loopback.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap, type SandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, REPO, runEntry, startEntry, tempDir } from "../helpers/env";
import { until, readJsonLines } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const PASS = "s3cret-Pass!word";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sandbox(opts: Partial<Parameters<typeof startSandboxImap>[0]> = {}) {
  const s = await startSandboxImap({ port: 0, users: { [USER]: PASS }, idle: true, ...opts });
  cleanups.push(() => s.close());
  return s;
}

function dirs() {
  const t = tempDir("mailer-coll-");
  cleanups.push(t.cleanup);
  return { logDir: join(t.path, "logs"), stateDir: join(t.path, "state") };
}

function env(port: number, d: { logDir: string; stateDir: string }, extra: Record<string, string> = {}) {
  return baseEnv({
    EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60",
    LOG_DIR: d.logDir, STATE_DIR: d.stateDir, ...extra,
  });
}

function entries(d: { logDir: string }, file: "success_request.log" | "error_request.log") {
  const path = join(d.logDir, file);
  if (!existsSync(path)) return [];
  // only whole lines: a running collector may be in the middle of appending the last one
  return readJsonLines(path);
}
const allEntries = (d: { logDir: string }) => [...entries(d, "success_request.log"), ...entries(d, "error_request.log")];

const mail = (subject: string, body = "Hello", extraHeaders = "") =>
  `From: Ivan Petrov <ivan@example.com>\r\nTo: ${USER}\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@example.com>\r\n${extraHeaders}\r\n${body}\r\n`;

test("--once: first run takes unread mail, second run adds nothing, new mail only; flags untouched; read-elsewhere mail still collected", async () => {
  const s = await sandbox();
  const d = dirs();
  await s.append(mail("[Ticket #10001] Mailer", "already read"), ["\\Seen"]);
  await s.append(mail("[Ticket #10002] Mailer", "Printer on fire"));
  await s.append(mail("Re: [Ticket #10002] Mailer", "Still on fire"));
  await s.append(mail("Lunch?", "<p>Pizza <b>today</b>?</p>", "Content-Type: text/html; charset=utf-8\r\n"));
  await s.append(mail("=?koi8-r?B?8NLJ18XU?=", Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]).toString("base64"), "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n"));
  const flagsBefore = s.messages();

  const first = await runEntry("collector.ts", ["--once"], env(s.port, d));
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  expect(first.stdout).toContain(`Mailer collector checking ${USER} INBOX on 127.0.0.1:${s.port}`);
  expect(first.stdout).toMatch(/First run: 4 unread messages/);
  expect(first.stdout).toContain("uid 2: ticket 10002\n");
  expect(first.stdout).toContain("uid 3: ticket 10002 (reply)\n");
  expect(first.stdout).not.toContain("Printer on fire"); // progress lines never carry the text
  expect(entries(d, "success_request.log").map((e) => [e.uid, e.ticket, e.text, e.from, e.reply])).toEqual([
    [2, "10002", "Printer on fire", "ivan@example.com", undefined],
    [3, "10002", "Still on fire", "ivan@example.com", true],
  ]);
  const errors = entries(d, "error_request.log");
  expect(errors.map((e) => [e.uid, e.subject])).toEqual([[4, "Lunch?"], [5, "Привет"]]);
  expect(errors[0].text).toMatch(/Pizza today\?/);
  expect(errors[1].text).toBe("Привет");
  expect(errors[0].reason).toMatch(/not in the ticket format/);
  expect(errors[0].uidValidity).toBe(s.uidValidity);
  expect(s.messages()).toEqual(flagsBefore); // nothing marked \Seen, nothing else touched

  const second = await runEntry("collector.ts", ["--once"], env(s.port, d));
  expect(second.code).toBe(0);
  expect(second.stdout).toContain("Nothing new.");
  expect(allEntries(d)).toHaveLength(4);

  // someone reads the new mail in another client before the collector looks
  const uid = await s.append(mail("[Ticket #10003] Mailer", "read elsewhere"));
  s.setFlags(uid, ["\\Seen"]);
  const third = await runEntry("collector.ts", ["--once"], env(s.port, d));
  expect(third.stdout).toContain(`uid ${uid}: ticket 10003`);
  expect(allEntries(d)).toHaveLength(5);
  expect(s.messages().find((m) => m.uid === uid)?.flags).toEqual(["\\Seen"]);

  const all = await runEntry("collector.ts", ["--once", "--all"], env(s.port, d));
  expect(all.stdout).toContain("uid 1: ticket 10001");
  expect(allEntries(d)).toHaveLength(6);
  expect(s.messages()).toEqual([...flagsBefore, { uid, flags: ["\\Seen"] }]);
}, 60_000);

test("loop: IDLE wakes the collector for new mail (PERIOD_CHECK=60); SIGTERM exits 0", async () => {
  const s = await sandbox();
  const d = dirs();
  const c = await startEntry("collector.ts", [], env(s.port, d), /Mailer collector watching .* \(no TLS, IDLE, every 60 s\)/);
  cleanups.push(() => void c.proc.kill("SIGKILL"));
  await until(() => /First run: 0 unread/.test(c.output()), 10_000, "first check");
  const appended = Date.now();
  await s.append(mail("[Ticket #10010] Mailer", "wake up"));
  await until(() => c.output().includes("uid 1: ticket 10010"), 15_000, "the IDLE wake-up"); // far below 60 s
  console.log(`IDLE wake-up: logged ${Date.now() - appended} ms after the append`);
  expect(entries(d, "success_request.log").map((e) => e.text)).toEqual(["wake up"]);
  expect(await c.stop("SIGTERM")).toBe(0);
}, 30_000);

test("server drops the connection and comes back renumbered (new UIDVALIDITY): reconnect, re-scan, no duplicates", async () => {
  let s: SandboxImap = await startSandboxImap({ port: 0, users: { [USER]: PASS } });
  const port = s.port;
  cleanups.push(() => s.close());
  const d = dirs();
  const first = mail("[Ticket #10020] Mailer", "one");
  const second = mail("two", "two");
  await s.append(first);
  await s.append(second);
  const c = await startEntry("collector.ts", [], env(port, d), /Mailer collector watching/);
  cleanups.push(() => void c.proc.kill("SIGKILL"));
  await until(() => allEntries(d).length === 2, 10_000, "the first two");

  await s.close();
  await until(() => /IMAP connection to 127\.0\.0\.1:\d+ lost/.test(c.output()), 10_000, "the outage notice");
  await Bun.sleep(1500); // a few failed tries: still one notice
  s = await startSandboxImap({ port, users: { [USER]: PASS } });
  await s.append(first);
  await s.append(second);
  await s.append(mail("[Ticket #10021] Mailer", "three"));
  await until(() => allEntries(d).length === 3, 30_000, "the new message after reconnect");
  await until(() => /uid 2: skipped/.test(c.output()), 5_000, "skip lines");
  expect(c.output().match(/lost/g)).toHaveLength(1);
  expect(c.output().match(/is back/g)).toHaveLength(1);
  // (the embedded IMAP server stands in for the renumbering server: it names itself the sandbox)
    expect(c.output().match(/UIDVALIDITY of INBOX changed|sandbox's in-memory INBOX is new/g)).toHaveLength(1);
  const byUv = allEntries(d).map((e) => [e.uidValidity === s.uidValidity ? "new" : "old", e.uid, e.text]);
  expect(byUv.sort()).toEqual([["new", 3, "three"], ["old", 1, "one"], ["old", 2, "two"]]);
  expect(await c.stop("SIGTERM")).toBe(0);
}, 60_000);

test("kill -9 during a 1,000-message backlog, then restart: exactly 1,000 entries", async () => {
  const s = await sandbox();
  const d = dirs();
  for (let i = 0; i < 1000; i++) await s.append(mail(i % 3 ? `[Ticket #${20000 + i}] Mailer` : `note ${i}`, `message number ${i}`));
  const killedAt: string[] = [];
  // kill once the first entries are in, at a random moment after that (so not only between
  // batches), then again during the second run
  for (let round = 0; round < 3; round++) {
    const c = await startEntry("collector.ts", [], env(s.port, d), /Mailer collector watching/);
    cleanups.push(() => void c.proc.kill("SIGKILL"));
    const before = allEntries(d).length;
    await until(() => allEntries(d).length > before || allEntries(d).length === 1000, 60_000, "progress");
    const delay = Math.floor(Math.random() * 150);
    await Bun.sleep(delay);
    c.proc.kill("SIGKILL");
    await c.proc.exited;
    killedAt.push(`${allEntries(d).length} (+${delay} ms)`);
  }
  const last = await runEntry("collector.ts", ["--once"], env(s.port, d), undefined, 60_000);
  expect(last.code).toBe(0);
  const all = allEntries(d);
  console.log(`kill -9 at ${killedAt.join(" and ")} entries; after restart ${all.length} entries`);
  expect(all).toHaveLength(1000);
  expect(new Set(all.map((e) => e.uid)).size).toBe(1000);
  expect(entries(d, "success_request.log")).toHaveLength(666);
}, 120_000);

test("SIGTERM during a backlog: the batch in hand is finished, exit 0, the rest comes next time", async () => {
  const s = await sandbox();
  const d = dirs();
  for (let i = 0; i < 2000; i++) await s.append(mail(`[Ticket #${40000 + i}] Mailer`, `n${i}`));
  const c = await startEntry("collector.ts", [], env(s.port, d), /Mailer collector watching/);
  cleanups.push(() => void c.proc.kill("SIGKILL"));
  await until(() => allEntries(d).length > 0, 30_000, "progress");
  expect(await c.stop("SIGTERM")).toBe(0);
  const atStop = allEntries(d).length;
  const rest = await runEntry("collector.ts", ["--once"], env(s.port, d), undefined, 60_000);
  expect(rest.code).toBe(0);
  const all = allEntries(d);
  console.log(`SIGTERM: ${atStop} entries at the stop, ${all.length} after the next run`);
  expect(all.map((e) => e.uid)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
}, 90_000);

test("wrong password: exit 2 with a clear message, no retry loop", async () => {
  const s = await sandbox();
  const d = dirs();
  const r = await runEntry("collector.ts", [], { ...env(s.port, d), EMAIL_PASSWORD: "wrong-password" });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`IMAP login to 127.0.0.1:${s.port} failed for EMAIL_LOGIN=${USER}`);
  expect(r.stderr).toContain("Check EMAIL_PASSWORD");
  expect(r.stderr).not.toContain("wrong-password");
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}, 20_000);

test("TLS: private CA via TLS_CA_FILE works with an IP host; without it the certificate is refused (exit 2 with the hint); STARTTLS required but not offered → exit 2", async () => {
  const fixtures = join(REPO, "tests/fixtures/tls");
  const tls = { key: readFileSync(join(fixtures, "server.key")), cert: readFileSync(join(fixtures, "server.pem")) };
  const implicit = await sandbox({ tls });
  await implicit.append(mail("[Ticket #10030] Mailer", "over TLS"));
  const d = dirs();
  const ok = await runEntry("collector.ts", ["--once"], env(implicit.port, d, { IMAP_SECURE: "tls", TLS_CA_FILE: join(fixtures, "ca.pem") }));
  expect(ok.stderr).toBe("");
  expect(ok.stdout).toContain("(TLS, one check)");
  expect(entries(d, "success_request.log").map((e) => e.text)).toEqual(["over TLS"]);

  const refused = await runEntry("collector.ts", ["--once"], env(implicit.port, dirs(), { IMAP_SECURE: "tls", TLS_CA_FILE: join(fixtures, "other-ca.pem") }));
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain("TLS_CA_FILE");

  const starttls = await sandbox({ tls: { ...tls, starttls: true } });
  const viaStarttls = await runEntry("collector.ts", ["--once"], env(starttls.port, dirs(), { IMAP_SECURE: "starttls", TLS_CA_FILE: join(fixtures, "ca.pem") }));
  expect(viaStarttls.code).toBe(0);
  expect(viaStarttls.stdout).toContain("(TLS, one check)");

  const plain = await sandbox();
  const required = await runEntry("collector.ts", ["--once"], env(plain.port, dirs(), { IMAP_SECURE: "starttls" }));
  expect(required.code).toBe(2);
  expect(required.stderr).toContain(`IMAP_SECURE=starttls, but 127.0.0.1:${plain.port} does not offer STARTTLS`);
}, 60_000);

test("--debug shows the IMAP conversation with the password masked; --help; unknown option", async () => {
  const s = await sandbox();
  const r = await runEntry("collector.ts", ["--once", "--debug"], env(s.port, dirs()));
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/^C: .*LOGIN/m);
  expect(r.stderr).toMatch(/^S: .*OK/m);
  expect(r.stderr + r.stdout).not.toContain(PASS);
  expect(r.stderr + r.stdout).not.toContain(Buffer.from(PASS).toString("base64"));

  const help = await runEntry("collector.ts", ["--help"], baseEnv({}));
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage: bun collector.ts [--once [--json]] [--all] [--debug]");
  const bad = await runEntry("collector.ts", ["--bogus"], baseEnv({}));
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--help");
}, 30_000);

