// collector.ts's output for scripts and log shippers (docs/collector.md "Collector and logs"): every
// operational line carries a timestamp; --once --json prints one summary object on stdout and
// everything else on stderr; LOG_FORMAT=json turns the lines into JSON Lines. The server's
// LOG_FORMAT=json is here too: both use lib/shared/log.ts.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { startSandboxPop3 } from "../../lib/sandbox/pop3";
import net from "node:net";
import { baseEnv, REPO, runEntry, startEntry } from "../helpers/env";
import { serverEnv } from "../helpers/hardening";
import { useTempDirs } from "../helpers/kit";
import { startSmtpSink } from "../helpers/smtp-sink";
import { requestTicket } from "../../lib/client/connection";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const PASS = "out-Pa55word";
const temp = useTempDirs("mailer-collout-");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function mailbox(n: number) {
  const s = await startSandboxImap({ port: 0, users: { [USER]: PASS } });
  cleanups.push(() => s.close());
  for (let i = 0; i < n; i++) await s.append(`From: p${i}@example.com\r\nSubject: ${i % 2 ? `[Ticket #${40000 + i}] Mailer` : `hello ${i}`}\r\n\r\nbody ${i}\r\n`);
  return s;
}
const env = (port: number, dir: string, extra: Record<string, string> = {}) =>
  baseEnv({ EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: join(dir, "logs"), STATE_DIR: join(dir, "state"), ...extra });
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const lines = (s: string) => s.split("\n").filter((l) => l !== "");

test("every collector line starts with an ISO timestamp, like the server's", async () => {
  const s = await mailbox(3);
  const r = await runEntry("collector.ts", ["--once"], env(s.port, temp()));
  expect(r.code).toBe(0);
  expect(lines(r.stdout).length).toBeGreaterThan(3);
  for (const line of lines(r.stdout)) expect(line).toMatch(ISO);
  expect(r.stdout).toContain("Logged 3 messages");
});

test("--once --json: exactly one summary object on stdout; the other lines on stderr; a failure is a summary with errors, same exit code", async () => {
  const s = await mailbox(5);
  const dir = temp();
  const r = await runEntry("collector.ts", ["--once", "--json"], env(s.port, dir));
  expect(r.code).toBe(0);
  expect(lines(r.stdout).map((l) => JSON.parse(l))).toEqual([{ logged: 5, tickets: 2, others: 3, skipped: 0, pending: 0, errors: [] }]);
  expect(r.stderr).toContain("First run: 5 unread messages");
  const again = await runEntry("collector.ts", ["--once", "--json"], env(s.port, dir));
  expect(lines(again.stdout).map((l) => JSON.parse(l))).toEqual([{ logged: 0, tickets: 0, others: 0, skipped: 0, pending: 0, errors: [] }]);

  const wrong = await runEntry("collector.ts", ["--once", "--json"], env(s.port, temp(), { EMAIL_PASSWORD: "wrong" }));
  expect(wrong.code).toBe(2);
  const [summary, ...more] = lines(wrong.stdout).map((l) => JSON.parse(l));
  expect(more).toEqual([]);
  expect(summary).toMatchObject({ logged: 0, errors: [expect.stringContaining("IMAP login")] });

  const config = await runEntry("collector.ts", ["--once", "--json"], env(s.port, temp(), { PERIOD_CHECK: "" }));
  expect(config.code).toBe(2);
  expect(lines(config.stdout).map((l) => JSON.parse(l))).toEqual([{ logged: 0, tickets: 0, others: 0, skipped: 0, pending: null, errors: [expect.stringContaining("PERIOD_CHECK is not set")] }]);

  const usage = await runEntry("collector.ts", ["--json"], env(s.port, temp()));
  expect([usage.code, usage.stderr]).toEqual([2, expect.stringContaining("--json needs --once")]);
});

test("LOG_FORMAT=json: collector and server lines are JSON Lines with time, level, event and fields", async () => {
  const s = await mailbox(2);
  const c = await runEntry("collector.ts", ["--once"], env(s.port, temp(), { LOG_FORMAT: "json" }));
  expect(c.code).toBe(0);
  const events = lines(c.stdout).map((l) => JSON.parse(l));

  // (the shape is checked by hand: Bun 1.4's toMatchObject with asymmetric matchers altered the received objects)
  expect(events.filter((e) => !(/^\d{4}-.*Z$/.test(e.time) && e.level === "info" && typeof e.event === "string" && typeof e.message === "string"))).toEqual([]);
  const byEvent = (name: string) => events.filter((e) => e.event === name);
  expect(byEvent("ready")).toEqual([expect.objectContaining({ host: "127.0.0.1", port: s.port, tls: false })]);
  expect(byEvent("logged").map((e) => e.uid)).toEqual([1, 2]);
  expect(byEvent("summary")).toEqual([expect.objectContaining({ tickets: 1, others: 1 })]);

  const sink = await startSmtpSink();
  cleanups.push(() => sink.close());
  const dir = temp();
  const srvEnv = serverEnv(sink.port, dir, PASS, { LOG_FORMAT: "json" });
  const srv = await startEntry("server.ts", [], srvEnv, /listening on/);
  cleanups.push(() => srv.proc.exitCode === null && srv.stop("SIGKILL"));
  const outcome = await requestTicket("127.0.0.1", Number(srvEnv.SERVER_PORT), "ivan@example.com", "hi");
  expect(outcome).toMatchObject({ kind: "reply", reply: { status: "OK" } });
  expect(await srv.stop("SIGTERM")).toBe(0);
  const served = lines(srv.output()).map((l) => JSON.parse(l));
  expect(served[0]).toMatchObject({ level: "info", event: "listening", port: Number(srvEnv.SERVER_PORT) });
  expect(served.find((e) => e.event === "request")).toMatchObject({ status: "OK", ticket: expect.stringMatching(/^\d{5,}$/), admin: "sent", peer: expect.stringContaining("127.0.0.1") });
  expect(served.map((e) => e.event)).toContain("stopped");
  expect(srv.output()).not.toContain(PASS);
}, 30_000);

test("LOG_FORMAT=json covers the other branches' lines: the POP3 collector (MAIL_PROTOCOL=pop3) and the server's summarised request lines", async () => {
  const sources = [0, 1].map((i) => Buffer.from(`From: p${i}@example.com\r\nSubject: ${i ? `[Ticket #${40000 + i}] Mailer` : "hello"}\r\n\r\nbody ${i}\r\n`));
  const pop3 = await startSandboxPop3({ port: 0, users: { [USER]: PASS }, list: () => sources.map((b, i) => ({ id: `7.${i + 1}`, size: b.length, read: () => b })) });
  cleanups.push(() => pop3.close());
  const c = await runEntry("collector.ts", ["--once", "--all"], env(0, temp(), { LOG_FORMAT: "json", MAIL_PROTOCOL: "pop3", POP3_HOST: "127.0.0.1", POP3_PORT: String(pop3.port), IMAP_HOST: "", IMAP_PORT: "" }));
  expect(c.code).toBe(0);
  const events = [...lines(c.stdout), ...lines(c.stderr)].map((l) => JSON.parse(l));
  expect(events.find((e) => e.event === "ready")).toMatchObject({ protocol: "POP3", port: pop3.port });
  expect(events.find((e) => e.event === "summary")).toMatchObject({ tickets: 1, others: 1 });

  // a peer repeating one refusal: a few lines in full, then the count, all of them JSON
  const sink = await startSmtpSink();
  cleanups.push(() => sink.close());
  const srvEnv = serverEnv(sink.port, temp(), PASS, { LOG_FORMAT: "json" });
  const srv = await startEntry("server.ts", [], srvEnv, /listening on/);
  cleanups.push(() => srv.proc.exitCode === null && srv.stop("SIGKILL"));
  const sock = net.connect(Number(srvEnv.SERVER_PORT), "127.0.0.1");
  let answers = 0;
  sock.on("data", (d) => (answers += d.toString().split("\n").length - 1));
  sock.write("{}\n".repeat(20));
  const deadline = Date.now() + 20_000;
  while (answers < 20 && Date.now() < deadline) await Bun.sleep(20);
  sock.destroy();
  expect(await srv.stop("SIGTERM")).toBe(0);
  const served = lines(srv.output()).map((l) => JSON.parse(l));
  const refused = served.filter((e) => e.event === "request" && e.code === "BAD_REQUEST");
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.length).toBeLessThan(20);
  // (an interval may end mid-flood: then the count comes in more than one summary line)
  const summaries = served.filter((e) => e.event === "summary");
  expect(summaries.map((e) => [e.level, e.repeated])).toContainEqual(["info", "127.0.0.1 ERROR BAD_REQUEST"]);
  expect(refused.length + summaries.reduce((n, e) => n + e.more, 0)).toBe(20);
}, 40_000);

test.skipIf(Bun.spawnSync(["script", "--version"]).exitCode !== 0)("a backlog on a terminal: one live progress line redrawn in place instead of a line per batch; in a pipe, a line per batch", async () => {
  const s = await mailbox(250);
  const e = env(s.port, temp());
  const proc = Bun.spawn(["script", "-qefc", "bun collector.ts --once", "/dev/null"], { cwd: REPO, env: e, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [tty, code] = [await new Response(proc.stdout).text(), await proc.exited];
  proc.stdin.end();
  clearTimeout(timer);
  expect(code).toBe(0);
  expect(tty).toContain("\r\x1b[2Kcollecting: 100 of 250 (40%)");
  expect(tty).not.toMatch(/uids \d+–\d+:/);
  expect(tty).toContain("Logged 250 messages");

  const piped = await runEntry("collector.ts", ["--once"], env(s.port, temp()));
  expect(piped.stdout).not.toContain("collecting:");
  expect(piped.stdout.match(/uids \d+–\d+:/g)).toHaveLength(3);
}, 40_000);
