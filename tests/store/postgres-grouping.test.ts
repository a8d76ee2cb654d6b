// Group commit on PostgreSQL (lib/store/postgres/grouped.ts): the issues, releases and "sent"
// records that arrive together share one statement — seen in the rows' xmin, the transaction
// that wrote them — and each call still gets its own answer.
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { SQL } from "bun";
import { openPostgresStore } from "../../lib/store/postgres/store";
import type { Holder, Store } from "../../lib/store/types";
import { dropDatabase, freshDatabase, requirePgstack } from "../helpers/pgstack";

setDefaultTimeout(60_000);

const pg = requirePgstack();
const made: string[] = [];
afterAll(async () => {
  for (const url of made.splice(0)) await dropDatabase(pg!, url).catch(() => {});
});

const me: Holder = { pid: process.pid, host: "grouping.test", since: "2026-01-01T00:00:00.000Z" };
const issue = (s: Store, requester = "ivan@example.com") =>
  s.tickets.issue({ requester, adminCopy: (t) => ({ from: "admin@x.test", to: "admin@x.test", replyTo: requester, subject: `[Ticket #${t}] Mailer`, text: `for ${requester}` }), holder: me, holdMs: 60_000 });

async function open(): Promise<{ s: Store; sql: SQL }> {
  const url = await freshDatabase(pg!);
  made.push(url);
  return { s: await openPostgresStore({ url }), sql: new SQL({ url, database: new URL(url).pathname.slice(1), max: 1 }) };
}

/** How many transactions wrote the rows that `where` selects from `table`. */
async function writers(sql: SQL, table: "ledger" | "outbox" | "rate_events", where = "true"): Promise<number> {
  return (await sql.unsafe(`SELECT count(DISTINCT xmin::text)::int AS n FROM ${table} WHERE ${where}`))[0].n;
}

describe.skipIf(!pg)("PostgreSQL store: group commit", () => {
  test("200 concurrent issues on one handle share a few statements; each copy carries its own number and its own text", async () => {
    const { s, sql } = await open();
    try {
      const all = await Promise.all(Array.from({ length: 200 }, (_, i) => issue(s, `p${i}@example.com`)));
      expect(new Set(all.map((t) => t.ticket)).size).toBe(200);
      expect(await writers(sql, "ledger")).toBeLessThanOrEqual(10);
      const rows = (await sql.unsafe(`SELECT o.ticket::text AS ticket, o.mail, l.requester FROM outbox o JOIN ledger l USING (ticket)`)) as { ticket: string; mail: { subject: string; text: string; messageId: string }; requester: string }[];
      expect(rows.length).toBe(200);
      for (const r of rows) {
        expect(r.mail.subject).toBe(`[Ticket #${r.ticket}] Mailer`);
        expect(r.mail.messageId).toContain(r.ticket);
        expect(r.mail.text).toBe(`for ${r.requester}`);
      }
      for (const t of all) expect(t.copy.mail.subject).toBe(`[Ticket #${t.ticket}] Mailer`);
    } finally {
      await sql.close();
      await s.close();
    }
  });

  test("200 concurrent releases share a few statements; each is claimed for its holder, its ticket accepted; one not held gets null", async () => {
    const { s, sql } = await open();
    try {
      const all = await Promise.all(Array.from({ length: 201 }, () => issue(s)));
      const gone = all.pop()!;
      await s.tickets.cancel(gone.copy.id);
      const claimFor = { holder: me, claimMs: 60_000 };
      const released = await Promise.all([...all.map((t) => s.tickets.release(t.copy.id, claimFor)), s.tickets.release(gone.copy.id, claimFor)]);
      expect(released.at(-1)).toBeNull();
      released.slice(0, -1).forEach((c, i) => {
        expect(c).toMatchObject({ id: all[i]!.copy.id, ticket: all[i]!.ticket, state: "sending", claimToken: 1 });
        expect(c!.mail.subject).toBe(`[Ticket #${all[i]!.ticket}] Mailer`);
      });
      expect(await writers(sql, "outbox", "state = 'sending'")).toBeLessThanOrEqual(10);
      const accepted = (await sql.unsafe(`SELECT accepted, count(*)::int AS n FROM ledger GROUP BY accepted ORDER BY accepted`)) as { accepted: boolean; n: number }[];
      expect(accepted).toEqual([{ accepted: false, n: 1 }, { accepted: true, n: 200 }]);
    } finally {
      await sql.close();
      await s.close();
    }
  });

  test("'sent' records that arrive together each answer for their own claim: a stale token is refused and its copy stays", async () => {
    const { s, sql } = await open();
    try {
      const all = await Promise.all(Array.from({ length: 100 }, () => issue(s)));
      const claimed = await Promise.all(all.map((t) => s.tickets.release(t.copy.id, { holder: me, claimMs: 60_000 })));
      const answers = await Promise.all(claimed.map((c, i) => s.tickets.record({ id: c!.id, claimToken: i % 2 ? c!.claimToken : c!.claimToken + 1, outcome: "sent" })));
      expect(answers).toEqual(claimed.map((_, i) => i % 2 === 1));
      const left = (await sql.unsafe(`SELECT id FROM outbox ORDER BY id`)) as { id: string }[];
      expect(left.map((r) => r.id)).toEqual(claimed.filter((_, i) => i % 2 === 0).map((c) => c!.id).sort());
    } finally {
      await sql.close();
      await s.close();
    }
  });

  test("rate-limit hits that arrive together share a few statements and count as if one after another: a limit of 10 lets 10 of 30 through", async () => {
    const { s, sql } = await open();
    try {
      const t0 = new Date("2026-06-01T12:00:00Z");
      const client = { key: "client 10.0.0.1", limit: 10, windowMs: 60_000 };
      const recipient = (i: number | string) => ({ key: `recipient r${i}@example.com`, limit: 2, windowMs: 3_600_000 });
      // 200 requests on different keys: all counted, in a few transactions
      const spread = await Promise.all(Array.from({ length: 200 }, (_, i) => s.rates!.hit([{ key: `client 10.1.${i}.1`, limit: 5, windowMs: 60_000 }, recipient(i)], t0)));
      expect(spread.every((r) => r.ok)).toBe(true);
      expect((await sql.unsafe(`SELECT count(*)::int AS n FROM rate_events`))[0].n).toBe(400);
      expect(await writers(sql, "rate_events")).toBeLessThanOrEqual(10);
      // 30 at once from one client: exactly its limit passes; the refused count nothing
      const same = await Promise.all(Array.from({ length: 30 }, (_, i) => s.rates!.hit([client, recipient(`s${i}`)], t0)));
      expect(same.filter((r) => r.ok).length).toBe(10);
      for (const r of same.filter((r) => !r.ok)) expect(r).toEqual({ ok: false, index: 0, retryAfterMs: 60_000 });
      expect((await sql.unsafe(`SELECT count(*)::int AS n FROM rate_events WHERE key LIKE 'recipient rs%'`))[0].n).toBe(10);
      // r7 has one of its two already: one more passes, then the second check is the full one,
      // and the first check of a refused request is not counted either
      const again = await Promise.all([0, 1, 2].map(() => s.rates!.hit([{ key: "client 10.9.9.9", limit: 100, windowMs: 60_000 }, recipient(7)], t0)));
      expect(again.map((r) => (r.ok ? "ok" : r.index))).toEqual(["ok", 1, 1]);
      expect((await sql.unsafe(`SELECT count(*)::int AS n FROM rate_events WHERE key = 'client 10.9.9.9'`))[0].n).toBe(1);
    } finally {
      await sql.close();
      await s.close();
    }
  });
});
