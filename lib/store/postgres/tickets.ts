// Tickets, their ledger and the outbox of admin copies on PostgreSQL, shared by any number of
// servers. Issuing is ONE statement (one round trip): nextval, the ledger row and the held copy
// in data-modifying CTEs — and the issues, releases and "sent" records that arrive together share
// one statement and one commit (grouped.ts). Claims take due copies with FOR UPDATE SKIP LOCKED, so two servers
// never get the same copy and never wait for each other; a copy held or claimed by a server that
// died is due again once its claim runs out, and is delivered by whichever server looks next.
//
// The admin's copy carries its ticket number (subject, Message-ID), which is known only inside
// the statement: it is built with a placeholder for the number — 40 random digits, so that it
// passes for a ticket number where one is checked — which the statement replaces; nobody can
// put it in a message, since it is new for every ticket.
import type { SQL } from "bun";
import type { ClaimRequest, DeliveryRecord, Holder, IssuedTicket, IssueRequest, LedgerEntry, OutboxCopy, OutboxSummary, TicketStats, TicketStore } from "../types";
import { isConnectionError, op, storeError } from "./connect";
import { GroupedWrites, type IssueInput, type ReleaseInput, type SentInput } from "./grouped";
import { Orphans } from "./orphans";

interface CopyRow {
  id: string;
  ticket: string;
  mail: OutboxCopy["mail"];
  state: OutboxCopy["state"];
  attempts: number;
  queued_at: string;
  next_attempt_ms: string;
  last_error: string | null;
  dead_at: string | null;
  claim_token: string;
}

const DUE = `((state = 'ready' AND next_attempt_ms <= $1) OR (state IN ('held', 'sending') AND claim_until_ms <= $1))`;

const ISSUE = `
  WITH n AS (SELECT nextval('ticket_seq') AS t),
  l AS (INSERT INTO ledger (ticket, requester, issued_at) SELECT t, $2, $3 FROM n RETURNING ticket)
  INSERT INTO outbox (id, ticket, mail, state, queued_at, next_attempt_ms, holder, claim_until_ms)
  SELECT $1, l.ticket, replace($4, $5, l.ticket::text)::jsonb, 'held', $3, $6, $7::text::jsonb, $8 FROM l
  RETURNING ticket::text`;

const LEDGER_ACCEPTED = `l AS (UPDATE ledger SET accepted = true WHERE ticket = (SELECT ticket FROM outbox WHERE id = $1) RETURNING 1)`;

/** the delivery record's copy: still claimed, by this claim */
const MINE = `WHERE id = $1 AND claim_token = $2 AND state = 'sending'`;

export class PgTickets implements TicketStore {
  /** copies whose issue or cancel may have half-happened: cancelled once the database answers */
  private readonly orphans: Orphans;
  private readonly grouped: GroupedWrites<CopyRow>;

  constructor(private readonly sql: SQL, private readonly where: string, private readonly storeId: string) {
    this.orphans = new Orphans((id) => this.cancelNow(id));
    this.grouped = new GroupedWrites<CopyRow>(sql, where, {
      issue: (x) => this.issueOne(x),
      release: (x) => this.releaseOne(x),
      sent: (x) => this.sentOne(x),
      orphan: (id, untilMs) => this.orphans.add(id, untilMs),
    });
  }

  async issue(req: IssueRequest): Promise<IssuedTicket> {
    const now = req.now ?? new Date();
    const at = now.toISOString();
    const id = crypto.randomUUID();
    const mark = placeholder();
    const built = req.adminCopy(mark);
    const mail = { ...built, messageId: built.messageId ?? `<ticket-${mark}.${this.storeId.slice(0, 8)}@mailer>`, date: built.date ?? at };
    const json = JSON.stringify(mail);
    const ticket = await this.grouped.issue.call({ id, requester: req.requester, at, json, mark, nowMs: now.getTime(), holder: JSON.stringify(req.holder), untilMs: now.getTime() + req.holdMs });
    // everything else is known here: only the number comes back
    const copy: OutboxCopy = { id, ticket, mail: JSON.parse(json.replaceAll(mark, ticket)), state: "held", attempts: 0, queuedAt: at, nextAttemptAt: at, claimToken: 0 };
    return { ticket, copy };
  }

  /** One issue, one statement (a batch of one, or the retry of a batch that failed). */
  private async issueOne(x: IssueInput): Promise<string> {
    try {
      const [row] = (await this.sql.unsafe(ISSUE, [x.id, x.requester, x.at, x.json, x.mark, x.nowMs, x.holder, x.untilMs])) as { ticket: string }[];
      return row!.ticket;
    } catch (err) {
      // committed but the answer lost? Then a held copy exists that nobody will release: it is
      // cancelled as soon as the database answers again, long before its hold runs out
      if (isConnectionError(err)) this.orphans.add(x.id, x.untilMs);
      throw storeError(err, this.where, "issue a ticket");
    }
  }

  async release(copyId: string, claimFor?: Omit<ClaimRequest, "ids" | "limit">): Promise<OutboxCopy | null> {
    if (!claimFor) {
      return op(this.where, "release an admin copy", async () => {
        await this.sql.unsafe(`WITH ${LEDGER_ACCEPTED} UPDATE outbox SET state = 'ready', holder = NULL, claim_until_ms = NULL WHERE id = $1 AND state = 'held'`, [copyId]);
        return null;
      });
    }
    const now = (claimFor.now ?? new Date()).getTime();
    const row = await this.grouped.release.call({ id: copyId, holder: JSON.stringify(claimFor.holder), untilMs: now + claimFor.claimMs });
    return row ? toCopy(row) : null;
  }

  private releaseOne(x: ReleaseInput): Promise<CopyRow | null> {
    return op(this.where, "release an admin copy", async () => {
      const rows = (await this.sql.unsafe(
        `WITH ${LEDGER_ACCEPTED} UPDATE outbox SET state = 'sending', holder = $2::text::jsonb, claim_until_ms = $3, claim_token = claim_token + 1
         WHERE id = $1 AND state = 'held' RETURNING *`,
        [x.id, x.holder, x.untilMs],
      )) as CopyRow[];
      return rows[0] ?? null;
    });
  }

  private sentOne(x: SentInput): Promise<boolean> {
    return op(this.where, "record a delivery", async () => (await this.sql.unsafe(`DELETE FROM outbox ${MINE}`, [x.id, x.claimToken])).count === 1);
  }

  async cancel(copyId: string): Promise<void> {
    try {
      await this.cancelNow(copyId);
    } catch (err) {
      // the person's mail was refused: this copy must never go out, so keep trying
      if (isConnectionError(err)) this.orphans.add(copyId, Infinity);
      throw storeError(err, this.where, "cancel an admin copy");
    }
  }

  private async cancelNow(copyId: string): Promise<void> {
    await this.sql.unsafe(
      `WITH d AS (DELETE FROM outbox WHERE id = $1 AND state = 'held' RETURNING ticket)
       UPDATE ledger SET accepted = false WHERE ticket IN (SELECT ticket FROM d)`,
      [copyId],
    );
  }

  claim(req: ClaimRequest): Promise<OutboxCopy[]> {
    return op(this.where, "claim admin copies", async () => {
      const now = (req.now ?? new Date()).getTime();
      const only = req.ids ? `AND id = ANY($5::text[])` : "";
      const params: unknown[] = [now, JSON.stringify(req.holder), now + req.claimMs, req.limit];
      if (req.ids) params.push(req.ids);
      const rows = (await this.sql.unsafe(
        `UPDATE outbox o SET state = 'sending', holder = $2::text::jsonb, claim_until_ms = $3, claim_token = o.claim_token + 1
         FROM (SELECT id FROM outbox WHERE ${DUE} ${only} ORDER BY next_attempt_ms LIMIT $4 FOR UPDATE SKIP LOCKED) due
         WHERE o.id = due.id RETURNING o.*`,
        params,
      )) as CopyRow[];
      return rows.map(toCopy).sort((a, b) => a.nextAttemptAt.localeCompare(b.nextAttemptAt));
    });
  }

  record(rec: DeliveryRecord): Promise<boolean> {
    if (rec.outcome === "sent") return this.grouped.sent.call({ id: rec.id, claimToken: rec.claimToken });
    const at = (rec.at ?? new Date()).toISOString();
    return op(this.where, "record a delivery", async () => {
      let r;
      if (rec.outcome === "failed") {
        r = await this.sql.unsafe(
          `UPDATE outbox SET state = 'ready', attempts = attempts + 1, last_error = $3, next_attempt_ms = $4, holder = NULL, claim_until_ms = NULL ${MINE}`,
          [rec.id, rec.claimToken, rec.error, rec.retryAt.getTime()],
        );
      } else {
        r = await this.sql.unsafe(
          `UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $3, dead_at = $4, holder = NULL, claim_until_ms = NULL ${MINE}`,
          [rec.id, rec.claimToken, rec.error, at],
        );
      }
      return r.count === 1;
    });
  }

  reclaim(holders: Holder[]): Promise<number> {
    if (holders.length === 0) return Promise.resolve(0);
    return op(this.where, "reclaim admin copies", async () => {
      const r = await this.sql.unsafe(
        `UPDATE outbox SET state = 'ready', holder = NULL, claim_until_ms = NULL, next_attempt_ms = 0
         WHERE state IN ('held', 'sending') AND holder @> ANY(SELECT jsonb_build_object('pid', p, 'host', h) FROM unnest($1::int[], $2::text[]) AS x(p, h))`,
        [holders.map((h) => h.pid), holders.map((h) => h.host)],
      );
      return r.count;
    });
  }

  holders(): Promise<Holder[]> {
    return op(this.where, "read the outbox", async () => {
      const rows = (await this.sql.unsafe(`SELECT DISTINCT holder FROM outbox WHERE state IN ('held', 'sending') AND holder IS NOT NULL`)) as { holder: Holder }[];
      return rows.map((r) => r.holder);
    });
  }

  requeue(ticket: string, now = new Date()): Promise<number> {
    return op(this.where, "re-queue a dead letter", async () => {
      if (!/^\d+$/.test(ticket)) return 0;
      const r = await this.sql.unsafe(`UPDATE outbox SET state = 'ready', next_attempt_ms = $1, dead_at = NULL, attempts = 0 WHERE ticket = $2 AND state = 'dead'`, [now.getTime(), ticket]);
      return r.count;
    });
  }

  summary(limit = 20): Promise<OutboxSummary> {
    return op(this.where, "read the outbox", async () => {
      const counts = { held: 0, ready: 0, sending: 0, dead: 0 };
      const grouped = (await this.sql.unsafe(`SELECT state, count(*)::int AS n FROM outbox GROUP BY state`)) as { state: keyof typeof counts; n: number }[];
      for (const r of grouped) counts[r.state] = r.n;
      const queued = (await this.sql.unsafe(`SELECT * FROM outbox WHERE state != 'dead' ORDER BY queued_at LIMIT $1`, [limit])) as CopyRow[];
      const dead = (await this.sql.unsafe(`SELECT * FROM outbox WHERE state = 'dead' ORDER BY dead_at`)) as CopyRow[];
      return { ...counts, queued: queued.map(toCopy), deadLetters: dead.map(toCopy) };
    });
  }

  stats(since: Date): Promise<TicketStats> {
    return op(this.where, "read the ticket sequence", async () => {
      const [seq] = (await this.sql.unsafe(`SELECT last_value::text AS last, is_called FROM ticket_seq`)) as { last: string; is_called: boolean }[];
      const [issued] = (await this.sql.unsafe(`SELECT count(*)::int AS n FROM ledger WHERE issued_at >= $1`, [since.toISOString()])) as { n: number }[];
      return { lastTicket: seq?.is_called ? seq.last : null, issuedSince: issued!.n };
    });
  }

  ledger(tickets: string[]): Promise<Map<string, LedgerEntry>> {
    return op(this.where, "read the ledger", async () => {
      const out = new Map<string, LedgerEntry>();
      const numbers = tickets.filter((t) => /^\d{1,16}$/.test(t));
      if (numbers.length === 0) return out;
      const rows = (await this.sql.unsafe(`SELECT ticket::text, requester, issued_at, accepted FROM ledger WHERE ticket = ANY($1::bigint[])`, [numbers])) as {
        ticket: string;
        requester: string;
        issued_at: string;
        accepted: boolean | null;
      }[];
      for (const r of rows) out.set(r.ticket, { ticket: r.ticket, requester: r.requester, issuedAt: r.issued_at, accepted: r.accepted });
      return out;
    });
  }

  ledgerStart(): Promise<string | null> {
    return op(this.where, "read the ledger", async () => {
      const [row] = (await this.sql.unsafe(`SELECT min(ticket)::text AS m FROM ledger`)) as { m: string | null }[];
      return row?.m ?? null;
    });
  }

  /** Stops the retries of pending cancels (they are given up: the holds run out on their own). */
  close(): void {
    this.orphans.stop();
  }
}

function placeholder(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(40)), (b) => String(b % 10)).join("").replace(/^0/, "9");
}

function toCopy(r: CopyRow): OutboxCopy {
  return {
    id: r.id,
    ticket: String(r.ticket),
    mail: r.mail,
    state: r.state,
    attempts: r.attempts,
    queuedAt: r.queued_at,
    nextAttemptAt: new Date(Number(r.next_attempt_ms)).toISOString(),
    ...(r.last_error ? { lastError: r.last_error } : {}),
    ...(r.dead_at ? { deadAt: r.dead_at } : {}),
    claimToken: Number(r.claim_token),
  };
}
