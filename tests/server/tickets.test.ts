import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMailerError, MailerError } from "../../lib/shared/errors";
import { acquireStateLock, FIRST_TICKET, TicketAllocator } from "../../lib/server/tickets";
import { REPO, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (README "Development")

const dirs: { cleanup: () => void }[] = [];
const procs: { kill: (s?: number) => void }[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill(9);
  for (const d of dirs.splice(0)) d.cleanup();
});
function dir() {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

test("numbers start at 10001, are decimal with at least 5 digits, and increase", () => {
  const t = new TicketAllocator(dir(), 10);
  const issued = Array.from({ length: 35 }, () => t.issue());
  expect(issued[0]).toBe(String(FIRST_TICKET));
  for (const n of issued) expect(n).toMatch(/^\d{5,}$/);
  for (let i = 1; i < issued.length; i++) expect(Number(issued[i])).toBeGreaterThan(Number(issued[i - 1]));
});

test("1,000 concurrent requests get 1,000 different numbers", async () => {
  const t = new TicketAllocator(dir(), 7);
  const issued = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
    await Bun.sleep(i % 3);
    return t.issue();
  }));
  expect(new Set(issued).size).toBe(1000);
});

test("a restart never repeats a number; the unused rest of a block becomes a gap", () => {
  const d = dir();
  const a = new TicketAllocator(d, 100);
  const first = Array.from({ length: 150 }, () => a.issue());
  const b = new TicketAllocator(d, 100);
  const next = Number(b.issue());
  expect(next).toBeGreaterThan(Math.max(...first.map(Number)));
  expect(next).toBe(10001 + 200); // blocks 10001–10100 and 10101–10200 were reserved
  expect(JSON.parse(readFileSync(join(d, "tickets.json"), "utf8"))).toEqual({ reservedUpTo: 10300 });
});

test("a clean close gives back the rest of the block: the next start has no gap", () => {
  const d = dir();
  const a = new TicketAllocator(d, 100);
  a.issue();
  a.issue();
  a.close();
  expect(new TicketAllocator(d, 100).issue()).toBe("10003");
  const fresh = new TicketAllocator(dir(), 100);
  fresh.close(); // nothing issued: nothing written, nothing lost
  expect(fresh.issue()).toBe("10001");
});

test("after kill -9 in the middle of issuing, the next process issues only higher numbers", async () => {
  const d = dir();
  const script = `import { TicketAllocator } from ${JSON.stringify(join(REPO, "lib/server/tickets.ts"))};
const t = new TicketAllocator(${JSON.stringify(d)}, 5);
for (;;) { console.log(t.issue()); await Bun.sleep(1); }`;
  const proc = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
  procs.push(proc);
  let out = "";
  const reader = proc.stdout.getReader();
  while (out.split("\n").length < 60) out += new TextDecoder().decode((await reader.read()).value);
  proc.kill(9);
  await proc.exited;
  // Everything printed before the kill (and whatever reached the pipe after it).
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  const before = out.split("\n").filter(Boolean).map(Number);
  expect(before.length).toBeGreaterThanOrEqual(59);
  const after = new TicketAllocator(d, 5);
  const next = Array.from({ length: 20 }, () => Number(after.issue()));
  expect(Math.min(...next)).toBeGreaterThan(Math.max(...before));
}, 15_000);

test("a damaged state file stops the server instead of guessing", () => {
  const d = dir();
  writeFileSync(join(d, "tickets.json"), "{garbage");
  expect(() => new TicketAllocator(d)).toThrow(MailerError);
  try {
    new TicketAllocator(d);
  } catch (err) {
    expect(isMailerError(err, "state")).toBe(true);
  }
  expect(() => new TicketAllocator(d)).toThrow(/damaged .* fix it by hand/);
});

test("the lock: a live holder makes a second server refuse, naming the pid", async () => {
  const d = dir();
  const script = `import { acquireStateLock } from ${JSON.stringify(join(REPO, "lib/server/tickets.ts"))};
acquireStateLock(${JSON.stringify(d)}); console.log("locked"); await Bun.sleep(30000);`;
  const holder = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
  procs.push(holder);
  const reader = holder.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");
  expect(() => acquireStateLock(d)).toThrow(new RegExp(`another Mailer server \\(pid ${holder.pid}.*already using STATE_DIR`));
  // kill -9 leaves the lock file behind; it is stale now and taken over.
  holder.kill(9);
  await holder.exited;
  expect(existsSync(join(d, "server.lock"))).toBe(true);
  const release = acquireStateLock(d);
  expect(JSON.parse(readFileSync(join(d, "server.lock"), "utf8")).pid).toBe(process.pid);
  release();
  expect(existsSync(join(d, "server.lock"))).toBe(false);
}, 15_000);

test("an empty (half-written) lock file counts as stale", () => {
  const d = dir();
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "server.lock"), "");
  const release = acquireStateLock(d);
  release();
});
