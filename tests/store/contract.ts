// The store interface's contract (lib/store/types.ts), run against every engine: SQLite
// (sqlite-contract.test.ts) and PostgreSQL (postgres-store.test.ts). `fresh()` makes a new,
// empty store and returns a function that opens another handle on it — as another server or
// collector would.
import { expect, test } from "bun:test";
import { currentHolder } from "../../lib/store/holder";
import { FIRST_TICKET, StoreError, type Holder, type Store } from "../../lib/store/types";

export type FreshStore = () => Promise<() => Promise<Store>>;

const me = currentHolder();
const other: Holder = { pid: 999_999, host: "elsewhere.test", since: "2026-01-01T00:00:00.000Z" };
const copy = (ticket: string) => ({ from: "admin@x.test", to: "admin@x.test", replyTo: "ivan@example.com", subject: `[Ticket #${ticket}] Mailer`, text: "Привет 👋 — строка\nвторая" });
const issue = (s: Store, o: { holder?: Holder; holdMs?: number } = {}) => s.tickets.issue({ requester: "ivan@example.com", adminCopy: copy, holder: o.holder ?? me, holdMs: o.holdMs ?? 60_000 });
const claim = (s: Store, limit = 100) => s.tickets.claim({ holder: me, claimMs: 60_000, limit });

async function withHandles<T>(fresh: FreshStore, n: number, fn: (stores: Store[]) => Promise<T>): Promise<T> {
  const open = await fresh();
  const stores: Store[] = [];
  for (let i = 0; i < n; i++) stores.push(await open());
  try {
    return await fn(stores);
  } finally {
    for (const s of stores) await s.close();
  }
}

export function storeContract(engine: string, fresh: FreshStore): void {
  test(`${engine}: 3 handles × 200 concurrent issues get 600 distinct numbers from ${FIRST_TICKET}, each with its held copy`, async () => {
    await withHandles(fresh, 3, async (stores) => {
      const all = await Promise.all(stores.flatMap((s) => Array.from({ length: 200 }, () => issue(s))));
      const numbers = all.map((t) => Number(t.ticket));
      expect(new Set(numbers).size).toBe(600);
      expect(Math.min(...numbers)).toBe(FIRST_TICKET);
      expect(Math.max(...numbers)).toBe(FIRST_TICKET + 599);
      for (const t of all) {
        expect(t.copy.state).toBe("held");
        expect(t.copy.mail.subject).toBe(`[Ticket #${t.ticket}] Mailer`);
        expect(t.copy.mail.messageId).toContain(t.ticket);
        expect(t.copy.mail.text).toBe(copy("x").text);
      }
      expect((await stores[1]!.tickets.stats(new Date(0))).lastTicket).toBe(String(FIRST_TICKET + 599));
      expect((await stores[2]!.tickets.summary(0)).held).toBe(600);
    });
  });

  test(`${engine}: a held copy is due only once released or its hold has run out; claims by several handles never share a copy`, async () => {
    await withHandles(fresh, 2, async ([a, b]) => {
      const { copy: held } = await issue(a!);
      expect(await claim(b!)).toEqual([]);
      const mine = await a!.tickets.release(held.id, { holder: me, claimMs: 60_000 });
      expect(mine?.state).toBe("sending");
      expect(mine?.claimToken).toBeGreaterThan(held.claimToken);
      expect(await claim(b!)).toEqual([]);
      expect(await b!.tickets.record({ id: held.id, claimToken: mine!.claimToken - 1, outcome: "sent" })).toBe(false);
      expect(await a!.tickets.record({ id: held.id, claimToken: mine!.claimToken, outcome: "failed", error: "451 later", retryAt: new Date(0) })).toBe(true);
      for (let i = 0; i < 29; i++) await a!.tickets.release((await issue(a!)).copy.id);
      const got = await Promise.all([claim(a!, 12), claim(b!, 12), claim(a!, 12)]);
      const ids = got.flat().map((c) => c.id);
      expect(ids.length).toBe(30);
      expect(new Set(ids).size).toBe(30);
      const { copy: orphan } = await issue(a!, { holder: other, holdMs: -1 });
      expect((await claim(b!)).map((c) => c.id)).toEqual([orphan.id]);
    });
  });

  test(`${engine}: the ledger says accepted, refused or not known; a cancelled copy never goes out`, async () => {
    await withHandles(fresh, 1, async ([s]) => {
      expect(await s!.tickets.ledgerStart()).toBeNull();
      const [a, b, c] = [await issue(s!), await issue(s!), await issue(s!)];
      await s!.tickets.release(a.copy.id);
      await s!.tickets.cancel(b.copy.id);
      const l = await s!.tickets.ledger([a.ticket, b.ticket, c.ticket, "99999999", "nonsense"]);
      expect([...l.keys()].sort()).toEqual([a.ticket, b.ticket, c.ticket].sort());
      expect(l.get(a.ticket)!.accepted).toBe(true);
      expect(l.get(b.ticket)!.accepted).toBe(false);
      expect(l.get(c.ticket)!.accepted).toBeNull();
      expect(l.get(a.ticket)!.requester).toBe("ivan@example.com");
      expect(await s!.tickets.ledgerStart()).toBe(a.ticket);
      // b is gone from the outbox; a is ready; c stays held
      const due = await s!.tickets.claim({ holder: me, claimMs: 1000, limit: 10, now: new Date(Date.now() + 10 * 60_000) });
      expect(due.map((d) => d.ticket).sort()).toEqual([a.ticket, c.ticket].sort());
    });
  });

  test(`${engine}: a dead letter stays, is listed, and is re-queued by its ticket number`, async () => {
    await withHandles(fresh, 2, async ([s, t]) => {
      const { ticket, copy: c } = await issue(s!);
      const mine = (await s!.tickets.release(c.id, { holder: me, claimMs: 60_000 }))!;
      expect(await s!.tickets.record({ id: c.id, claimToken: mine.claimToken, outcome: "dead", error: "550 no such user" })).toBe(true);
      const sum = await t!.tickets.summary();
      expect(sum.dead).toBe(1);
      expect(sum.deadLetters[0]!.lastError).toBe("550 no such user");
      expect(sum.deadLetters[0]!.deadAt).toBeString();
      expect(await claim(t!)).toEqual([]);
      expect(await t!.tickets.requeue(ticket)).toBe(1);
      expect(await t!.tickets.requeue(ticket)).toBe(0);
      expect((await claim(s!)).map((x) => x.ticket)).toEqual([ticket]);
    });
  });

  test(`${engine}: copies of holders known to be gone are due at once; holders() names who holds what`, async () => {
    await withHandles(fresh, 1, async ([s]) => {
      await issue(s!, { holder: other });
      await issue(s!);
      const holders = await s!.tickets.holders();
      expect(holders.map((h) => h.host).sort()).toEqual([me.host, other.host].sort());
      expect(await s!.tickets.reclaim([other])).toBe(1);
      expect((await claim(s!)).length).toBe(1);
    });
  });

  test(`${engine}: a lease has one holder; the refusal names it; a new holder gets a higher token and the old token is fenced`, async () => {
    await withHandles(fresh, 2, async ([a, b]) => {
      const name = "collector test";
      const first = await a!.leases.take(name, me, 30_000, () => false);
      if (!first.ok) throw new Error("first take refused");
      const refused = await b!.leases.take(name, other, 30_000, () => false);
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.holder.pid).toBe(me.pid);
      expect(await a!.leases.renew(name, first.lease.token, 30_000)).toBe(true);
      const [log] = await a!.collector.openLogs([{ name: "success", dir: "/logs/test", dev: 1, ino: 2, size: 0 }]);
      const row = { logId: log!.id, uidValidity: 7, uid: 1, sha256: "aa", offset: 0 };
      await a!.collector.commit({ lease: first.lease, logged: [row], offsets: new Map([[log!.id, 10]]) });
      await a!.leases.release(name, first.lease.token);
      const second = await b!.leases.take(name, other, 30_000, () => false);
      if (!second.ok) throw new Error("take after release refused");
      expect(second.lease.token).toBeGreaterThan(first.lease.token);
      expect(await a!.leases.renew(name, first.lease.token, 30_000)).toBe(false);
      const late = a!.collector.commit({ lease: first.lease, logged: [{ ...row, uid: 2 }], offsets: new Map() });
      await expect(late).rejects.toBeInstanceOf(StoreError);
      await expect(late).rejects.toMatchObject({ code: "fenced" });
      expect([...(await b!.collector.loggedUids([log!.id], 7, [1, 2]))]).toEqual([1]);
      expect((await b!.leases.list()).find((l) => l.name === name)?.token).toBe(second.lease.token);
    });
  });

  test(`${engine}: the collector's index and checkpoint round-trip, in one fenced commit`, async () => {
    await withHandles(fresh, 1, async ([s]) => {
      const lease = await s!.leases.take("collector idx", me, 30_000, () => false);
      if (!lease.ok) throw new Error("refused");
      const logs = await s!.collector.openLogs([
        { name: "success", dir: "/logs/idx", dev: 1, ino: 10, size: 0 },
        { name: "error", dir: "/logs/idx", dev: 1, ino: 11, size: 0 },
      ]);
      expect(logs.map((l) => l.offset)).toEqual([0, 0]);
      const ids = logs.map((l) => l.id);
      const logged = Array.from({ length: 1500 }, (_, i) => ({ logId: ids[i % 2]!, uidValidity: 5, uid: i + 1, sha256: i < 3 ? "dup" : `d${i}`, offset: i * 10 }));
      const checkpoint = { key: "a@h:1/INBOX → /logs/idx", uidValidity: 5, lastUid: 1500, pending: [7, 9], dedupeUpTo: 0, extra: { attempts: { "7": 2 } } };
      await s!.collector.commit({ lease: lease.lease, logged, offsets: new Map(ids.map((id) => [id, 7500])), checkpoint });
      expect(await s!.collector.readCheckpoint(checkpoint.key)).toEqual(checkpoint);
      expect((await s!.collector.checkpoints()).map((c) => c.key)).toEqual([checkpoint.key]);
      expect([...(await s!.collector.loggedUids(ids, 5, [1, 2, 1500, 1501]))].sort((x, y) => x - y)).toEqual([1, 2, 1500]);
      expect(await s!.collector.loggedUids(ids, 6, [1])).toEqual(new Set());
      expect(await s!.collector.maxLoggedUid(ids, 5)).toBe(1500);
      expect(await s!.collector.digestCounts(ids, 6, ["dup", "d10", "zz"])).toEqual(new Map([["dup", 3], ["d10", 1]]));
      expect(await s!.collector.digestCounts(ids, 5, ["dup"])).toEqual(new Map());
      const again = await s!.collector.openLogs([
        { name: "success", dir: "/logs/idx", dev: 1, ino: 10, size: 7500 },
        { name: "error", dir: "/logs/idx", dev: 1, ino: 11, size: 8000 },
      ]);
      expect(again.map((l) => [l.id, l.offset, l.reset])).toEqual([
        [ids[0]!, 7500, false],
        [ids[1]!, 7500, false],
      ]);
    });
  });

  test(`${engine}: shared rate limits (when the engine has them) count across handles and refuse without counting`, async () => {
    await withHandles(fresh, 2, async ([a, b]) => {
      if (!a!.rates) return expect(b!.rates).toBeUndefined();
      const checks = (ip: string) => [
        { key: `ip:${ip}`, limit: 3, windowMs: 60_000 },
        { key: "to:ivan@example.com", limit: 4, windowMs: 3_600_000 },
      ];
      const t0 = new Date();
      expect(await a!.rates.hit(checks("1"), t0)).toEqual({ ok: true });
      expect(await b!.rates!.hit(checks("1"), t0)).toEqual({ ok: true });
      expect(await a!.rates.hit(checks("1"), t0)).toEqual({ ok: true });
      const full = await b!.rates!.hit(checks("1"), t0);
      expect(full.ok).toBe(false);
      if (!full.ok) expect([full.index, full.retryAfterMs]).toEqual([0, 60_000]);
      // the refused hit counted nothing: the recipient has room for exactly one more
      expect(await a!.rates.hit(checks("2"), t0)).toEqual({ ok: true });
      const byRecipient = await a!.rates.hit(checks("3"), t0);
      expect(byRecipient.ok ? -1 : byRecipient.index).toBe(1);
      // the window slides
      expect(await b!.rates!.hit(checks("1").slice(0, 1), new Date(t0.getTime() + 60_001))).toEqual({ ok: true });
    });
  });
}
