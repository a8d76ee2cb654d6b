// Tickets, their ledger and the outbox of admin copies on SQLite. Every write goes through the
// group-commit Writer; issuing is durable (the held copy is on disk before the person's mail
// goes out, and the number can never come back), the rest commits with synchronous=NORMAL.
import type { Database } from "bun:sqlite";
import {
  FIRST_TICKET,
  LAST_TICKET,
  StoreError,
  type ClaimRequest,
  type DeliveryRecord,
  type Holder,
  type IssuedTicket,
  type IssueRequest,
  type LedgerEntry,
  type OutboxCopy,
  type OutboxSummary,
  type TicketStats,
  type TicketStore,
} from "../types";
import type { Writer } from "./writer";

interface CopyRow {
  id: string;
  ticket: number;
  mail: string;
  state: OutboxCopy["state"];
  attempts: number;
  queued_at: string;
  next_attempt_ms: number;
  last_error: string | null;
  dead_at: string | null;
  claim_token: number;
}

const DUE = `(state = 'ready' AND next_attempt_ms <= $now) OR (state IN ('held', 'sending') AND claim_until_ms <= $now)`;

export class SqliteTickets implements TicketStore {
  constructor(private readonly db: Database, private readonly writer: Writer, private readonly storeId: string) {}

  issue(req: IssueRequest): Promise<IssuedTicket> {
    return this.writer.run(() => this.issueNow(req), { durable: true });
  }

  private issueNow(req: IssueRequest): IssuedTicket {
    const now = req.now ?? new Date();
    const row = this.db.query<{ last: number }, []>("UPDATE sequence SET last = last + 1 WHERE name = 'ticket' RETURNING last").get()!;
    if (row.last > LAST_TICKET) {
      throw new StoreError("exhausted", `the ticket numbers are used up (the next would be ${row.last}, above ${LAST_TICKET}, the highest this store issues) — start a new STATE_DIR`);
    }
    const ticket = String(row.last);
    const at = now.toISOString();
    const built = req.adminCopy(ticket);
    const mail = { ...built, messageId: built.messageId ?? `<ticket-${ticket}.${this.storeId.slice(0, 8)}@mailer>`, date: built.date ?? at };
    this.db.query("INSERT INTO ledger (ticket, requester, issued_at, accepted) VALUES (?, ?, ?, NULL)").run(row.last, req.requester, at);
    const copy = this.db
      .query<CopyRow, [string, number, string, string, number, string, number]>(
        `INSERT INTO outbox (id, ticket, mail, state, queued_at, next_attempt_ms, holder, claim_until_ms)
         VALUES (?, ?, ?, 'held', ?, ?, ?, ?) RETURNING *`,
      )
      .get(ticket, row.last, JSON.stringify(mail), at, now.getTime(), JSON.stringify(req.holder), now.getTime() + req.holdMs)!;
    return { ticket, copy: toCopy(copy) };
  }

  release(copyId: string, claimFor?: Omit<ClaimRequest, "ids" | "limit">): Promise<OutboxCopy | null> {
    return this.writer.run(() => {
      this.db.query("UPDATE ledger SET accepted = 1 WHERE ticket = (SELECT ticket FROM outbox WHERE id = ?)").run(copyId);
      if (!claimFor) {
        this.db.query("UPDATE outbox SET state = 'ready', holder = NULL, claim_until_ms = NULL WHERE id = ? AND state = 'held'").run(copyId);
        return null;
      }
      const now = claimFor.now ?? new Date();
      const row = this.db
        .query<CopyRow, [string, number, string]>(
          `UPDATE outbox SET state = 'sending', holder = ?, claim_until_ms = ?, claim_token = claim_token + 1
           WHERE id = ? AND state = 'held' RETURNING *`,
        )
        .get(JSON.stringify(claimFor.holder), now.getTime() + claimFor.claimMs, copyId);
      return row ? toCopy(row) : null;
    }, { durable: false });
  }

  cancel(copyId: string): Promise<void> {
    return this.writer.run(() => {
      this.db.query("UPDATE ledger SET accepted = 0 WHERE ticket = (SELECT ticket FROM outbox WHERE id = ? AND state = 'held')").run(copyId);
      this.db.query("DELETE FROM outbox WHERE id = ? AND state = 'held'").run(copyId);
    }, { durable: false });
  }

  claim(req: ClaimRequest): Promise<OutboxCopy[]> {
    return this.writer.run(() => {
      const now = (req.now ?? new Date()).getTime();
      const only = req.ids ? `AND id IN (SELECT value FROM json_each($ids))` : "";
      const rows = this.db
        .query<CopyRow, Record<string, string | number>>(
          `UPDATE outbox SET state = 'sending', holder = $holder, claim_until_ms = $until, claim_token = claim_token + 1
           WHERE id IN (SELECT id FROM outbox WHERE (${DUE}) ${only} ORDER BY next_attempt_ms LIMIT $limit) RETURNING *`,
        )
        .all({ $now: now, $holder: JSON.stringify(req.holder), $until: now + req.claimMs, $limit: req.limit, $ids: JSON.stringify(req.ids ?? []) });
      return rows.map(toCopy).sort((a, b) => a.nextAttemptAt.localeCompare(b.nextAttemptAt));
    }, { durable: false });
  }

  record(rec: DeliveryRecord): Promise<boolean> {
    const at = (rec.at ?? new Date()).toISOString();
    return this.writer.run(() => {
      const mine = "WHERE id = $id AND claim_token = $token AND state = 'sending'";
      const key = { $id: rec.id, $token: rec.claimToken };
      if (rec.outcome === "sent") return this.db.query(`DELETE FROM outbox ${mine}`).run(key).changes === 1;
      if (rec.outcome === "failed") {
        return this.db
          .query(`UPDATE outbox SET state = 'ready', attempts = attempts + 1, last_error = $error, next_attempt_ms = $retry, holder = NULL, claim_until_ms = NULL ${mine}`)
          .run({ ...key, $error: rec.error, $retry: rec.retryAt.getTime() }).changes === 1;
      }
      return this.db
        .query(`UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $error, dead_at = $at, holder = NULL, claim_until_ms = NULL ${mine}`)
        .run({ ...key, $error: rec.error, $at: at }).changes === 1;
    }, { durable: rec.outcome === "dead" });
  }

  reclaim(holders: Holder[]): Promise<number> {
    if (holders.length === 0) return Promise.resolve(0);
    return this.writer.run(() => {
      let n = 0;
      const q = this.db.query(
        `UPDATE outbox SET state = 'ready', holder = NULL, claim_until_ms = NULL, next_attempt_ms = 0
         WHERE state IN ('held', 'sending') AND json_extract(holder, '$.pid') = ? AND json_extract(holder, '$.host') = ?`,
      );
      for (const h of holders) n += q.run(h.pid, h.host).changes;
      return n;
    }, { durable: false });
  }

  async holders(): Promise<Holder[]> {
    const rows = this.db.query<{ holder: string }, []>("SELECT DISTINCT holder FROM outbox WHERE state IN ('held', 'sending') AND holder IS NOT NULL").all();
    return rows.map((r) => JSON.parse(r.holder) as Holder);
  }

  requeue(ticket: string, now = new Date()): Promise<number> {
    return this.writer.run(
      () =>
        this.db
          .query("UPDATE outbox SET state = 'ready', next_attempt_ms = ?, dead_at = NULL, attempts = 0 WHERE ticket = ? AND state = 'dead'")
          .run(now.getTime(), Number(ticket)).changes,
      { durable: true },
    );
  }

  async summary(limit = 20): Promise<OutboxSummary> {
    const counts = { held: 0, ready: 0, sending: 0, dead: 0 };
    for (const r of this.db.query<{ state: keyof typeof counts; n: number }, []>("SELECT state, count(*) AS n FROM outbox GROUP BY state").all()) counts[r.state] = r.n;
    const queued = this.db.query<CopyRow, [number]>("SELECT * FROM outbox WHERE state != 'dead' ORDER BY queued_at LIMIT ?").all(limit).map(toCopy);
    const deadLetters = this.db.query<CopyRow, []>("SELECT * FROM outbox WHERE state = 'dead' ORDER BY dead_at").all().map(toCopy);
    return { ...counts, queued, deadLetters };
  }

  async stats(since: Date): Promise<TicketStats> {
    const last = this.db.query<{ last: number }, []>("SELECT last FROM sequence WHERE name = 'ticket'").get()?.last ?? 0;
    const issued = this.db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM ledger WHERE issued_at >= ?").get(since.toISOString())!.n;
    return { lastTicket: last >= FIRST_TICKET ? String(last) : null, issuedSince: issued };
  }

  async ledger(tickets: string[]): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>();
    const numbers = tickets.map(Number).filter((n) => Number.isSafeInteger(n));
    if (numbers.length === 0) return out;
    const rows = this.db
      .query<{ ticket: number; requester: string; issued_at: string; accepted: number | null }, [string]>(
        "SELECT * FROM ledger WHERE ticket IN (SELECT value FROM json_each(?))",
      )
      .all(JSON.stringify(numbers));
    for (const r of rows) out.set(String(r.ticket), { ticket: String(r.ticket), requester: r.requester, issuedAt: r.issued_at, accepted: r.accepted === null ? null : r.accepted === 1 });
    return out;
  }

  async ledgerStart(): Promise<string | null> {
    const first = this.db.query<{ m: number | null }, []>("SELECT min(ticket) AS m FROM ledger").get()?.m ?? null;
    return first === null ? null : String(first);
  }
}

function toCopy(r: CopyRow): OutboxCopy {
  return {
    id: r.id,
    ticket: String(r.ticket),
    mail: JSON.parse(r.mail),
    state: r.state,
    attempts: r.attempts,
    queuedAt: r.queued_at,
    nextAttemptAt: new Date(r.next_attempt_ms).toISOString(),
    ...(r.last_error ? { lastError: r.last_error } : {}),
    ...(r.dead_at ? { deadAt: r.dead_at } : {}),
    claimToken: r.claim_token,
  };
}
