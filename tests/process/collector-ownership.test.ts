// One writer per LOG_DIR, as real collector processes: the lease in the store names a running
// first collector and is taken over at once after a kill -9; the marker in LOG_DIR refuses a
// collector of another store; symlinked logs and directories other users can write are refused.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, runEntry, startEntry, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const PASS = "s3cret-Pass!word";
const READY = /Mailer collector watching/;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function imapPort(): Promise<number> {
  const s = await startSandboxImap({ port: 0, users: { [USER]: PASS }, idle: true });
  cleanups.push(() => s.close());
  await s.append(`From: a@example.com\r\nSubject: [Ticket #10001] Mailer\r\n\r\nhi\r\n`);
  return s.port;
}

function dirs() {
  const t = tempDir("mailer-own-");
  cleanups.push(t.cleanup);
  return { root: t.path, logDir: join(t.path, "logs"), stateDir: join(t.path, "state") };
}

function env(port: number, d: { logDir: string; stateDir: string }) {
  return baseEnv({ EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: d.logDir, STATE_DIR: d.stateDir });
}

async function watcher(port: number, d: { logDir: string; stateDir: string }) {
  const c = await startEntry("collector.ts", [], env(port, d), READY);
  cleanups.push(() => void c.proc.kill("SIGKILL"));
  return c;
}

test("a second collector on the same LOG_DIR refuses and names the first (pid, host, since); after kill -9 a restart takes over at once", async () => {
  const port = await imapPort();
  const d = dirs();
  const first = await watcher(port, d);
  const second = await runEntry("collector.ts", ["--once"], env(port, d));
  expect(second.code).toBe(2);
  expect(second.stderr).toMatch(new RegExp(`another Mailer collector is already writing LOG_DIR=${d.logDir} \\(pid ${first.proc.pid} on host \\S+, since \\d{4}-\\d\\d-\\d\\dT[^)]+\\).*two would log every message twice`));
  first.proc.kill("SIGKILL");
  await first.proc.exited;
  // at once: the lease's pid is gone from this host (no waiting for the lease to expire)
  const again = await runEntry("collector.ts", ["--once"], env(port, d));
  expect(again.stderr).toBe("");
  expect(again.code).toBe(0);
  const logged = readFileSync(join(d.logDir, "success_request.log"), "utf8").split("\n").filter(Boolean);
  expect(logged.map((l) => JSON.parse(l).uid)).toEqual([1]);
}, 30_000);

test("two collectors on one LOG_DIR with different STATE_DIRs: the second is refused, naming the first one's STATE_DIR — also when both start at once", async () => {
  const port = await imapPort();
  const a = dirs();
  const b = { logDir: a.logDir, stateDir: join(a.root, "other-state") };
  const first = await watcher(port, a);
  const second = await runEntry("collector.ts", ["--once", "--all"], env(port, b));
  expect(second.code).toBe(2);
  expect(second.stderr).toContain(`LOG_DIR=${a.logDir} belongs to the collector of the store in STATE_DIR=${a.stateDir}`);
  expect(await first.stop("SIGTERM")).toBe(0);

  // at the same instant, on a fresh LOG_DIR: exactly one of them runs
  for (let trial = 0; trial < 5; trial++) {
    const c = dirs();
    const runs = await Promise.all([c.stateDir, join(c.root, "state-2"), join(c.root, "state-3")].map((stateDir) => runEntry("collector.ts", ["--once", "--all"], env(port, { logDir: c.logDir, stateDir }))));
    expect(runs.map((r) => r.code).sort()).toEqual([0, 2, 2]);
    const lines = readFileSync(join(c.logDir, "success_request.log"), "utf8").split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
  }
}, 60_000);

test("a symlinked log is refused and its target left alone; so are LOG_DIR and STATE_DIR writable by other users", async () => {
  const port = await imapPort();
  const d = dirs();
  mkdirSync(d.logDir, { mode: 0o700 });
  const target = join(d.root, "victim.txt");
  writeFileSync(target, "do not touch\n");
  symlinkSync(target, join(d.logDir, "success_request.log"));
  const planted = await runEntry("collector.ts", ["--once", "--all"], env(port, d));
  expect(planted.code).toBe(2);
  expect(planted.stderr).toContain(`${join(d.logDir, "success_request.log")} is a symbolic link; Mailer never writes through one`);
  expect(readFileSync(target, "utf8")).toBe("do not touch\n");

  for (const key of ["LOG_DIR", "STATE_DIR"] as const) {
    const open = dirs();
    const dir = key === "LOG_DIR" ? open.logDir : open.stateDir;
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const wide = await runEntry("collector.ts", ["--once"], env(port, open));
    expect(wide.code).toBe(2);
    expect(wide.stderr).toContain(`${key}=${dir} can be written by other users (mode 0777)`);
  }
}, 30_000);
