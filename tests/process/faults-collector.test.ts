// Collector faults with the real collector.ts process and the embedded IMAP server, beyond
// tests/collector.test.ts (which covers a clean server restart with a new UIDVALIDITY after
// everything was logged, and 3 kill -9 during a 1,000 backlog):
// - the connection cut in the middle of a FETCH of a 2,000-message backlog, twice;
// - the server going away in the middle of a backlog and coming back renumbered (new
//   UIDVALIDITY) with the same messages plus new ones;
// - 5 kill -9 at seeded random moments during a 2,000-message backlog.
// In every case: each message logged exactly once.
import { afterAll, afterEach, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startSandboxImap, type SandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, runEntry, startEntry, tempDir } from "../helpers/env";
import { prng, seedFor, until } from "../helpers/hardening";
import { startProxy } from "../helpers/tcp-proxy";
import { readJsonLines } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const PASS = "coll-faults-pw";
const N = 2000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** ~1.3 KB each, so a 2,000 backlog is ~2.6 MB of FETCH data; every source distinct. */
const message = (i: number) =>
  `From: Person ${i} <p${i}@example.com>\r\nTo: ${USER}\r\nSubject: ${i % 4 ? `[Ticket #${30000 + i}] Mailer` : `question ${i}`}\r\n` +
  `Message-ID: <m${i}@example.com>\r\n\r\nmessage ${i}\r\n${"padding line to make the backlog large\r\n".repeat(30)}`;

// One mailbox with the 2,000-message backlog, shared read-only by the tests that use it (the
// collector never changes a mailbox: EXAMINE and BODY.PEEK).
let backlog: SandboxImap;
beforeAll(async () => {
  backlog = await startSandboxImap({ port: 0, users: { [USER]: PASS } });
  for (let i = 0; i < N; i++) await backlog.append(message(i));
});
afterAll(() => backlog.close());

function dirs() {
  const t = tempDir("mailer-cfault-");
  cleanups.push(t.cleanup);
  return { logDir: join(t.path, "logs"), stateDir: join(t.path, "state") };
}
const env = (port: number, d: { logDir: string; stateDir: string }) =>
  baseEnv({ EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: d.logDir, STATE_DIR: d.stateDir });

function entries(d: { logDir: string }): { uid: number; uidValidity: number; text: string }[] {
  const out = [];
  for (const f of ["success_request.log", "error_request.log"]) {
    const p = join(d.logDir, f);
    // only whole lines (readJsonLines): the running collector may be in the middle of appending the last one
    out.push(...readJsonLines<{ uid: number; uidValidity: number; text: string }>(p));
  }
  return out;
}
/** "message 17" → 17: which backlog message an entry is. */
const index = (e: { text: string }) => Number(/^message (\d+)/.exec(e.text)?.[1] ?? -1);

function expectEachOnce(all: { text: string }[], count: number) {
  const seen = all.map(index).sort((a, b) => a - b);
  const dupes = seen.filter((v, i) => i > 0 && seen[i - 1] === v);
  expect(dupes).toEqual([]);
  expect(seen).toEqual(Array.from({ length: count }, (_, i) => i));
}

async function startCollector(port: number, d: { logDir: string; stateDir: string }) {
  const c = await startEntry("collector.ts", [], env(port, d), /Mailer collector watching/);
  cleanups.push(() => void c.proc.kill("SIGKILL"));
  return c;
}

describe("collector faults: nothing lost, nothing twice", () => {
  test("connection cut in the middle of FETCH of a 2,000 backlog, twice: reconnects and logs each message once", async () => {
    const rnd = prng(seedFor("faults-collector mid-fetch"));
    const proxy = await startProxy(backlog.port);
    cleanups.push(() => proxy.close());
    // the first two connections are cut somewhere inside the ~2.6 MB of FETCH responses
    proxy.cutAfter(rnd.int(100_000, 1_200_000), rnd.int(100_000, 1_200_000));
    const d = dirs();
    const c = await startCollector(proxy.port, d);
    await until(() => entries(d).length >= N, 60_000, `${N} entries`);
    await Bun.sleep(300);
    const all = entries(d);
    console.log(`cut after ${proxy.cuts.join(" and ")} bytes; entries ${all.length}`);
    expect(proxy.cuts).toHaveLength(2);
    expect(c.output()).toMatch(/IMAP connection to 127\.0\.0\.1:\d+ lost/);
    expect(all.map((e) => e.uid).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1)); // each UID once
    expectEachOnce(all, N);
    expect(await c.stop("SIGTERM")).toBe(0);
  }, 60_000);

  test("server gone mid-backlog, back renumbered (new UIDVALIDITY) with the same mail and new mail: each message once", async () => {
    const M = 600;
    const first = await startSandboxImap({ port: 0, users: { [USER]: PASS } });
    cleanups.push(() => first.close());
    for (let i = 0; i < M; i++) await first.append(message(i));
    const proxy = await startProxy(first.port);
    cleanups.push(() => proxy.close());
    // the server dies in the middle of the backlog: ~300 KB into the ~780 KB of its FETCH data,
    // at a byte count, not at a moment (the collector may read as fast as it likes)
    proxy.goDownAfter(300_000);
    const d = dirs();
    const c = await startCollector(proxy.port, d);
    await until(() => proxy.cuts.length === 1, 30_000, "the cut");
    await until(() => /IMAP connection to .* lost/.test(c.output()), 30_000, "the collector to notice");
    const before = entries(d).length;
    // it comes back renumbered: same messages, new UIDVALIDITY, and new mail after them
    const second = await startSandboxImap({ port: 0, users: { [USER]: PASS } });
    cleanups.push(() => second.close());
    for (let i = 0; i < M + 5; i++) await second.append(message(i));
    expect(second.uidValidity).not.toBe(first.uidValidity);
    proxy.setUpstream(second.port);
    await until(() => new Set(entries(d).map(index)).size >= M + 5, 60_000, "every message");
    await Bun.sleep(500);
    const all = entries(d);
    console.log(`renumbered mid-backlog: ${before} of ${M} logged before the outage; ${all.length} entries after`);
    expect(before).toBeLessThan(M); // it really was in the middle
    // (the embedded IMAP server stands in for the renumbering server: it names itself the sandbox)
    expect(c.output().match(/UIDVALIDITY of INBOX changed|sandbox's in-memory INBOX is new/g)).toHaveLength(1);
    expectEachOnce(all, M + 5);
    expect(await c.stop("SIGTERM")).toBe(0);
  }, 60_000);

  test("kill -9 at 5 seeded random moments during a 2,000 backlog: after the last restart exactly 2,000 entries, each uid once", async () => {
    const rnd = prng(seedFor("faults-collector kill -9"));
    const d = dirs();
    const at: string[] = [];
    for (let k = 0; k < 5; k++) {
      const c = await startCollector(backlog.port, d);
      const delay = rnd.int(0, 700); // after the readiness line: login, search, fetch, parse, log
      await Bun.sleep(delay);
      c.proc.kill("SIGKILL");
      await c.proc.exited;
      at.push(`${delay} ms → ${entries(d).length}`);
    }
    const last = await runEntry("collector.ts", ["--once"], env(backlog.port, d), undefined, 60_000);
    expect(last.code).toBe(0);
    const all = entries(d);
    console.log(`kill -9 at: ${at.join(", ")}; after the last run: ${all.length}`);
    expect(all).toHaveLength(N);
    expect(new Set(all.map((e) => e.uid)).size).toBe(N);
    expectEachOnce(all, N);
  }, 90_000);
});
