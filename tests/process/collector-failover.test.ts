// Two collectors on one mailbox sharing PostgreSQL, each with its own LOG_DIR (two hosts):
// one works, the other stands by; kill -9 of the worker during a 2,000-message backlog and the
// standby takes over — the database holds exactly 2,000 entries, none twice — and both LOG_DIRs
// can be rebuilt completely from the database.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { SQL } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap, type SandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, runEntry, startEntry, tempDir } from "../helpers/env";
import { until } from "../helpers/kit";
import { dropDatabase, freshDatabase, requirePgstack } from "../helpers/pgstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const pg = requirePgstack();
const USER = "admin@mailer.test";
const PASS = "failover-Pass-1";
const COUNT = 2000;
const cleanups: (() => unknown)[] = [];
let url = "";
let imap: SandboxImap;

beforeAll(async () => {
  if (!pg) return;
  url = await freshDatabase(pg, "failover");
  imap = await startSandboxImap({ port: 0, users: { [USER]: PASS }, idle: true });
  const body = "x".repeat(2000);
  for (let i = 0; i < COUNT; i++) {
    const subject = i % 10 === 9 ? `hello ${i}` : `[Ticket #${20000 + i}] Mailer`;
    await imap.append(`From: p${i}@example.com\r\nTo: ${USER}\r\nSubject: ${subject}\r\nMessage-ID: <m${i}@example.com>\r\n\r\nmessage ${i}\r\n${body}\r\n`);
  }
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (!pg) return;
  await imap?.close();
  await dropDatabase(pg, url);
});

function host(name: string) {
  const t = tempDir(`mailer-${name}-`);
  cleanups.push(t.cleanup);
  const d = { logDir: join(t.path, "logs"), stateDir: join(t.path, "state") };
  const env = baseEnv({ EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(imap.port), PERIOD_CHECK: "1", LOG_DIR: d.logDir, STATE_DIR: d.stateDir, STATE_DATABASE_URL: url });
  return { ...d, env };
}

const lines = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : []);

describe.skipIf(!pg)("collectors on one mailbox sharing PostgreSQL", () => {
  test("kill -9 of the lease holder during a 2,000-message backlog: the standby takes over; 2,000 entries, none twice; logs rebuilt from the database", async () => {
    const a = host("host-a");
    const b = host("host-b");
    const first = await startEntry("collector.ts", [], a.env, /rebuilt from/);
    cleanups.push(() => void first.proc.kill("SIGKILL"));
    const standby = await startEntry("collector.ts", [], b.env, /standby: .* is collected by pid \d+/);
    cleanups.push(() => void standby.proc.kill("SIGKILL"));
    // a --once check does not stand by: it names the holder and exits 2
    const once = await runEntry("collector.ts", ["--once"], host("host-c").env);
    expect([once.code, once.stderr]).toEqual([2, expect.stringMatching(new RegExp(`is collected by pid ${first.proc.pid} on host `))]);
    const sql = new SQL({ url, database: new URL(url).pathname.slice(1), max: 1 });
    cleanups.push(() => sql.close());
    const count = async () => (await sql`SELECT count(*)::int AS n, count(DISTINCT (uid_validity, uid))::int AS d FROM entries`)[0] as { n: number; d: number };
    const onA = () => lines(join(a.logDir, "success_request.log")).length + lines(join(a.logDir, "error_request.log")).length;
    // mid-backlog: some entries committed, more appended on host A and not committed yet
    let committed = 0;
    for (const until = Date.now() + 60_000; Date.now() < until; await Bun.sleep(5)) {
      committed = (await count()).n;
      if (committed > 0 && onA() > committed + 100) break;
    }
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const heldByA = onA();
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(COUNT);
    await until(() => /taking over/.test(standby.output()), 30_000, "the standby to take over", standby.output);
    const deadline = Date.now() + 60_000;
    while ((await count()).n < COUNT && Date.now() < deadline) await Bun.sleep(100);
    await Bun.sleep(1500); // one more period: nothing further may come
    expect(await count()).toEqual({ n: COUNT, d: COUNT });
    expect((await sql`SELECT count(*)::int AS n FROM logged`)[0].n).toBe(COUNT);
    // host B's LOG_DIR: the rebuilt copy plus what B appended — every message once
    const uidsOf = (dir: string) => [...lines(join(dir, "success_request.log")), ...lines(join(dir, "error_request.log"))].map((l) => JSON.parse(l).uid as number);
    const onB = uidsOf(b.logDir);
    expect([onB.length, new Set(onB).size]).toEqual([COUNT, COUNT]);
    expect(lines(join(b.logDir, "error_request.log")).length).toBe(COUNT / 10);
    expect(standby.output()).toMatch(/LOG_DIR=.* rebuilt from PostgreSQL database postgres:\/\/mailer@[^:]+:\d+\/\w+: \d+ entries/);
    expect(standby.output()).not.toContain("failover-Pass-1");
    console.log(`failover: host A had appended ${heldByA} entries when killed, ${/rebuilt from .*: (\d+) entries/.exec(standby.output())?.[1]} of them committed`);
    // host A, taken over: rebuilt completely from the database; what it held beyond that is kept aside
    await standby.stop("SIGTERM");
    const rebuilt = await runEntry("scripts/state.ts", ["--rebuild-logs", a.logDir], a.env);
    expect([rebuilt.code, rebuilt.stderr]).toEqual([0, ""]);
    expect(rebuilt.stdout).toContain(`${COUNT} entries of ${USER}@127.0.0.1:${imap.port}/INBOX`);
    const rebuiltA = uidsOf(a.logDir);
    expect(rebuiltA.sort((x, y) => x - y)).toEqual([...onB].sort((x, y) => x - y));
    expect(readFileSync(join(a.logDir, "success_request.log"), "utf8")).toBe(readFileSync(join(b.logDir, "success_request.log"), "utf8"));
  }, 180_000);
});
