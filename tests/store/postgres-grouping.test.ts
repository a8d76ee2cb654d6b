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
async function writers(sql: SQL, table: "ledger" | "outbox", where = "true"): Promise<number> {
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
});
