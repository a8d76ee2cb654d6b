// The SQLite store through its interface (lib/store/types.ts): the ticket sequence, held copies
// and claims, the ledger, leases with fencing, and what a failed commit leaves behind.
import { Database } from "bun:sqlite";
import { expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { openStore } from "../../lib/store";
import { currentHolder, holderGone } from "../../lib/store/holder";
import { checkpointKey } from "../../lib/store/keys";
import { FIRST_TICKET, LAST_TICKET, StoreError, type Holder, type Store } from "../../lib/store/types";
import { REPO } from "../helpers/env";
import { useTempDirs } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const dir = useTempDirs("mailer-store-");
const me = currentHolder();
const copy = (ticket: string) => ({ from: "admin@x.test", to: "admin@x.test", replyTo: "ivan@example.com", subject: `[Ticket #${ticket}] Mailer`, text: "Привет 👋" });
const issue = (s: Store, requester = "ivan@example.com") => s.tickets.issue({ requester, adminCopy: copy, holder: me, holdMs: 60_000 });

async function open(stateDir = dir()): Promise<Store> {
  return await openStore({ stateDir, logDir: join(stateDir, "logs") });
}

test("numbers start at 10001 and increase; 1,000 concurrent issues get 1,000 numbers; a reopen continues", async () => {
  const d = dir();
  const s = await open(d);
  const first = await Promise.all(Array.from({ length: 1000 }, () => issue(s)));
  const numbers = first.map((t) => Number(t.ticket));
  expect(Math.min(...numbers)).toBe(FIRST_TICKET);
  expect(new Set(numbers).size).toBe(1000);
  expect(Math.max(...numbers)).toBe(FIRST_TICKET + 999);
  await s.close();
  const again = await open(d);
  expect((await issue(again)).ticket).toBe(String(FIRST_TICKET + 1000));
  await again.close();
});

test("near 2^53: no number repeats, and the store refuses with a clear error long before 2^53 − 1", async () => {
  const d = dir();
  const s = await open(d);
  await s.close();
  const db = new Database(join(d, "mailer.db"));
  db.run(`UPDATE sequence SET last = ${LAST_TICKET - 3} WHERE name = 'ticket'`);
  db.close();
  const again = await open(d);
  const got = await Promise.allSettled(Array.from({ length: 6 }, () => issue(again)));
  const ok = got.filter((g) => g.status === "fulfilled").map((g) => (g as PromiseFulfilledResult<{ ticket: string }>).value.ticket);
  expect(ok).toEqual([LAST_TICKET - 2, LAST_TICKET - 1, LAST_TICKET].map(String));
  for (const g of got.slice(3)) {
    expect(g.status).toBe("rejected");
    expect((g as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    expect(String((g as PromiseRejectedResult).reason.message)).toMatch(/ticket numbers are used up/);
  }
  expect(LAST_TICKET).toBeLessThan(Number.MAX_SAFE_INTEGER - 999_999);
  expect((await again.tickets.stats(new Date(0))).lastTicket).toBe(String(LAST_TICKET));
  await again.close();
});

test("a held copy is not claimable until released or its hold expires; claims never hand one copy out twice", async () => {
  const s = await open();
  const { copy: held } = await issue(s);
  expect(await s.tickets.claim({ holder: me, claimMs: 60_000, limit: 10 })).toEqual([]);
  const mine = await s.tickets.release(held.id, { holder: me, claimMs: 60_000 });
  expect(mine?.state).toBe("sending");
  expect(await s.tickets.claim({ holder: me, claimMs: 60_000, limit: 10 })).toEqual([]);
  // a stale claim token is ignored: only the current claim may record
  expect(await s.tickets.record({ id: held.id, claimToken: mine!.claimToken - 1, outcome: "sent" })).toBe(false);
  expect(await s.tickets.record({ id: held.id, claimToken: mine!.claimToken, outcome: "failed", error: "451 later", retryAt: new Date(0) })).toBe(true);
  // two claimers at once: each copy goes to exactly one
  for (let i = 0; i < 9; i++) await s.tickets.release((await issue(s)).copy.id);
  const [a, b] = await Promise.all([s.tickets.claim({ holder: me, claimMs: 60_000, limit: 6 }), s.tickets.claim({ holder: me, claimMs: 60_000, limit: 6 })]);
  const ids = [...a!, ...b!].map((c) => c.id);
  expect(ids.length).toBe(10);
  expect(new Set(ids).size).toBe(10);
  // an expired hold is due for anyone: the holder may have died after the person's mail went out
  const { copy: orphan } = await s.tickets.issue({ requester: "x@example.com", adminCopy: copy, holder: me, holdMs: -1 });
  expect((await s.tickets.claim({ holder: me, claimMs: 60_000, limit: 10 })).map((c) => c.id)).toEqual([orphan.id]);
  await s.close();
});

test("the ledger: accepted on release, refused on cancel, unknown while held; it starts at the first number issued here", async () => {
  const s = await open();
  expect(await s.tickets.ledgerStart()).toBeNull();
  const a = await issue(s, "a@example.com");
  const b = await issue(s, "b@example.com");
  const c = await issue(s, "c@example.com");
  await s.tickets.release(a.copy.id);
  await s.tickets.cancel(b.copy.id);
  const ledger = await s.tickets.ledger([a.ticket, b.ticket, c.ticket, "99999", "123456789012345678901234567890"]);
  expect([...ledger.values()].map((l) => [l.ticket, l.requester, l.accepted])).toEqual([
    [a.ticket, "a@example.com", true],
    [b.ticket, "b@example.com", false],
    [c.ticket, "c@example.com", null],
  ]);
  expect(await s.tickets.ledgerStart()).toBe(a.ticket);
  expect(await s.tickets.summary()).toMatchObject({ ready: 1, held: 1 }); // a released, b cancelled (gone), c held
  await s.close();
});

test("dead letters stay visible and can be re-queued by ticket number", async () => {
  const s = await open();
  const t = await issue(s);
  const claimed = await s.tickets.release(t.copy.id, { holder: me, claimMs: 60_000 });
  await s.tickets.record({ id: t.copy.id, claimToken: claimed!.claimToken, outcome: "dead", error: "550 5.1.1 no such user" });
  const summary = await s.tickets.summary();
  expect(summary.deadLetters.map((d) => [d.ticket, d.lastError])).toEqual([[t.ticket, "550 5.1.1 no such user"]]);
  expect(await s.tickets.requeue("99999")).toBe(0);
  expect(await s.tickets.requeue(t.ticket)).toBe(1);
  expect((await s.tickets.claim({ holder: me, claimMs: 60_000, limit: 5 })).map((c) => c.ticket)).toEqual([t.ticket]);
  await s.close();
});

test("a commit that fails fails its requests and leaves nothing that could swallow a later copy", async () => {
  const d = dir();
  const s = await open(d);
  // the next ledger insert fails as a full disk would (SQLITE_FULL is not injectable from SQL)
  const side = new Database(join(d, "mailer.db"));
  side.run("CREATE TRIGGER full BEFORE INSERT ON ledger WHEN NEW.requester = 'doomed@example.com' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
  await expect(issue(s, "doomed@example.com")).rejects.toThrow(/database or disk is full/);
  const { ticket, copy: c } = await issue(s, "fine@example.com");
  await s.tickets.release(c.id);
  side.run("DROP TRIGGER full");
  side.close();
  await s.close();
  const again = await open(d);
  const due = await again.tickets.claim({ holder: me, claimMs: 60_000, limit: 10 });
  expect(due.map((x) => x.ticket)).toEqual([ticket]);
  expect(due[0]!.mail.replyTo).toBe("ivan@example.com");
  await again.close();
});

test("leases: one holder; refused names it; a dead holder on this host is taken over at once; tokens fence writes", async () => {
  const s = await open();
  const other: Holder = { pid: process.ppid, host: me.host, since: "2026-01-01T00:00:00.000Z" };
  const first = await s.leases.take("L", other, 60_000, holderGone);
  expect(first.ok).toBe(true);
  const refused = await s.leases.take("L", me, 60_000, holderGone);
  expect(refused).toMatchObject({ ok: false, holder: other });
  // a pid that does not run: taken over at once, with a larger token
  const dead: Holder = { pid: 2 ** 22 + 17, host: me.host, since: "2026-01-01T00:00:00.000Z" };
  await s.leases.take("M", dead, 60_000, () => false);
  const taken = await s.leases.take("M", me, 60_000, holderGone);
  expect(taken.ok && taken.lease.token).toBe(2);
  // a holder on another host: only after expiry
  await s.leases.take("N", { ...other, host: "elsewhere" }, 60_000, holderGone);
  expect((await s.leases.take("N", me, 60_000, holderGone)).ok).toBe(false);
  const later = new Date(Date.now() + 61_000);
  expect((await s.leases.take("N", me, 60_000, holderGone, later)).ok).toBe(true);
  // the first holder of M is fenced out of collector commits
  await expect(s.collector.commit({ lease: { name: "M", token: 1 }, logged: [], offsets: new Map() })).rejects.toThrow(/taken over/);
  expect(await s.leases.renew("M", 1, 60_000)).toBe(false);
  await s.close();
});

test("a zombie holder (killed, not yet reaped) counts as gone", async () => {
  // the subshell exits at once; its parent execs into sleep, which never reaps it
  const proc = Bun.spawn(["sh", "-c", "true & echo $!; exec sleep 30"], { stdout: "pipe" });
  const zombie = Number((await new Response(proc.stdout).text().catch(() => "")) || 0);
  proc.kill(9);
  expect(zombie).toBeGreaterThan(0);
  expect(holderGone({ pid: zombie, host: me.host, since: "x" })).toBe(true);
  expect(holderGone({ pid: process.pid, host: me.host, since: me.since })).toBe(false);
  expect(holderGone({ pid: process.pid, host: me.host, since: "an earlier process with our pid" })).toBe(true);
  expect(holderGone({ pid: 1, host: "another-host", since: "x" })).toBe(false);
});

test("kill -9 in the middle of issuing: the next process issues only higher numbers", async () => {
  const d = dir();
  const script = `import { openStore } from ${JSON.stringify(join(REPO, "lib/store/index.ts"))};
const s = await openStore({ stateDir: ${JSON.stringify(d)}, logDir: ${JSON.stringify(d)} });
const h = { pid: process.pid, host: "h", since: "s" };
for (;;) { const t = await s.tickets.issue({ requester: "a@b.c", adminCopy: (n) => ({ from: "a@b.c", to: "a@b.c", subject: n, text: n }), holder: h, holdMs: 1 }); console.log(t.ticket); }`;
  const proc = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (out.split("\n").length < 200) out += new TextDecoder().decode((await reader.read()).value);
  proc.kill(9);
  await proc.exited;
  for (let r = await reader.read(); !r.done; r = await reader.read()) out += new TextDecoder().decode(r.value);
  const before = out.split("\n").filter(Boolean).map(Number);
  const s = await open(d);
  expect(Number((await issue(s)).ticket)).toBeGreaterThan(Math.max(...before));
  await s.close();
}, 20_000);

test("upgrade: an old checkpoint's failed-fetch attempts (retries) go on counting, as the checkpoint's extra.retries", async () => {
  const d = dir();
  const account = "admin@mailer.test@127.0.0.1:1143/INBOX";
  const retries = { "7": { attempts: 3, lastError: "the FETCH reply left it out" } };
  await Bun.write(join(d, "collector-checkpoint.json"), JSON.stringify({ account, uidValidity: 42, lastUid: 9, pending: [7], dedupeUpTo: 0, retries }) + "\n");
  const s = await open(d);
  try {
    const cp = await s.collector.readCheckpoint(checkpointKey(account, join(d, "logs")));
    expect(cp).toMatchObject({ uidValidity: 42, lastUid: 9, pending: [7], extra: { retries } });
  } finally {
    await s.close();
  }
});
