import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogFile, readBackwards, type Entry } from "../../lib/web/log-file";
import { REPO, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function logWith(lines: string[]): string {
  const dir = tempDir("mailer-logfile-");
  cleanups.push(dir.cleanup);
  const path = join(dir.path, "success_request.log");
  writeFileSync(path, lines.join(""));
  return path;
}

const entry = (i: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ time: `2026-11-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00.000Z`, ticket: String(10000 + i), text: `message ${i}`, from: `p${i}@example.com`, ...extra }) + "\n";

function allPages(path: string, limit: number): Entry[] {
  const out: Entry[] = [];
  let before: number | null = null;
  do {
    const page = readBackwards(path, limit, before);
    out.push(...page.entries);
    before = page.older;
  } while (before !== null);
  return out;
}

test("pages newest first, each entry exactly once across pages and 1 MiB chunk boundaries, long lines included", () => {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) lines.push(entry(i, i % 500 === 7 ? { text: "x".repeat(1_500_000) } : {})); // a few lines longer than a chunk
  const path = logWith(lines);
  const seen = allPages(path, 37).map((e) => Number(e.ticket) - 10000);
  expect(seen.length).toBe(3000);
  expect(seen).toEqual([...Array(3000).keys()].reverse());
  const first = readBackwards(path, 1, null).entries[0]!;
  expect(first.ticket).toBe("12999");
  expect(first.offset).toBe(lines.slice(0, 2999).join("").length);
});

test("an unfinished last line (the collector is writing it) and torn or foreign lines are not shown", () => {
  const path = logWith([entry(1), "not json\n", "\n", "[1,2]\n", entry(2), '{"time":"2026-11-0']);
  expect(readBackwards(path, 10, null).entries.map((e) => e.ticket)).toEqual(["10002", "10001"]);
});

test("a missing log reads as empty", () => {
  expect(readBackwards("/nonexistent/success_request.log", 10, null)).toEqual({ entries: [], older: null });
});

test("a search with a byte budget stops early and says where to go on; following the cursor finds everything", () => {
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(entry(i));
  const path = logWith(lines);
  const filter = { line: (l: string) => l.includes('"p7') };
  const partial = readBackwards(path, 1000, null, filter, 200_000);
  expect(partial.older).not.toBeNull();
  let found = partial.entries.length;
  for (let before = partial.older; before !== null; ) {
    const page = readBackwards(path, 1000, before, filter, 200_000);
    found += page.entries.length;
    before = page.older;
  }
  expect(found).toBe(lines.filter((l) => l.includes('"p7')).length);
});

test("the index: threads in order (request, then each reply), counts, requests per day; other key orders parsed too", async () => {
  const path = logWith([
    entry(1),
    entry(2),
    JSON.stringify({ time: "2026-11-03T09:00:00Z", ticket: "10001", reply: true, text: "re 1" }) + "\n",
    JSON.stringify({ ticket: "10001", time: "2026-11-04T09:00:00Z", reply: true, text: "another key order" }) + "\n",
    "garbage\n",
  ]);
  const log = new LogFile(path);
  await log.whenReady();
  expect(log.count).toBe(4);
  expect((await log.ticket("10001")).map((e) => e.text)).toEqual(["message 1", "re 1", "another key order"]);
  expect(await log.ticket("99999")).toEqual([]);
  expect(Object.fromEntries(log.perDay)).toEqual({ "2026-11-02": 1, "2026-11-03": 1 });
});

test("poll: entries the collector appends reach the listeners once, in order; a partial line waits until finished", async () => {
  const path = logWith([entry(1)]);
  const log = new LogFile(path);
  await log.whenReady();
  const got: unknown[] = [];
  log.onEntry((e) => got.push(e.ticket));
  appendFileSync(path, entry(2) + entry(3).slice(0, 20));
  await log.poll();
  expect(got).toEqual(["10002"]);
  appendFileSync(path, entry(3).slice(20));
  await log.poll();
  await log.poll();
  expect(got).toEqual(["10002", "10003"]);
  expect((await log.ticket("10003"))[0]!.text).toBe("message 3");
});

test("a log replaced by a shorter one is indexed again from the start", async () => {
  const path = logWith([entry(1), entry(2), entry(3)]);
  const log = new LogFile(path);
  await log.whenReady();
  writeFileSync(path, entry(9));
  await log.poll();
  expect(log.count).toBe(1);
  expect((await log.ticket("10009")).length).toBe(1);
});

test("1,000,000 entries: the first page comes at once and memory stays small (figures printed; ceiling generous)", async () => {
  // bench/web-log.ts writes the log and measures the web server in a process of its own.
  const proc = Bun.spawn(["bun", "--no-env-file", join(REPO, "bench/web-log.ts"), "--json"], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  const f = JSON.parse(out);
  console.log(`1,000,000-entry log (${f.fileMb} MB): first page ${f.firstPageMs} ms, index ${f.indexMs} ms, RSS ${f.rssAfterFirstPageMb} MB after the first page, peak ${f.rssPeakMb} MB`);
  expect(f.entries).toBe(1_000_000);
  expect(f.firstPageRows).toBe(50);
  expect(f.threadEntries).toBe(2);
  // the target is 150 MB; the ceiling here leaves room for a slower GC on a loaded machine
  expect(f.rssPeakMb).toBeLessThan(300);
}, 120_000);
