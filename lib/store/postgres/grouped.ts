// The three writes on every ticket's path — issue, release (claimed for the first attempt) and the
// "sent" record — grouped (batch.ts): the calls that arrive together are ONE statement over
// arrays, one round trip and one commit for all of them. The statements are the single-call ones
// of tickets.ts over unnest(…); a batch that fails for any reason but a lost connection is
// retried one statement per call, so one call's problem is its own.
//
// Numbers: a batch takes as many numbers as the sequence has left (a batch that would run past
// its end numbers the first calls and refuses the rest as "exhausted", like single statements
// would); the numbers of a batch that fails are gone (a gap, as with any failed nextval).
import type { SQL } from "bun";
import { LAST_TICKET } from "../types";
import { allOrEach, Batcher, fulfilled, type BatchOptions } from "./batch";
import { exhaustedError, storeError } from "./connect";

/** Two statements of each kind on their way at once (of the pool's ten connections). */
const GROUPING: BatchOptions = { inFlight: 2, maxBatch: 200 };

export interface IssueInput {
  id: string;
  requester: string;
  at: string;
  /** the admin copy's JSON, with `mark` where the number goes */
  json: string;
  mark: string;
  nowMs: number;
  holder: string;
  untilMs: number;
}

export interface ReleaseInput {
  id: string;
  holder: string;
  untilMs: number;
}

export interface SentInput {
  id: string;
  claimToken: number;
}

const ISSUE_MANY = `
  WITH r AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])
      WITH ORDINALITY AS r(id, requester, at, mail, mark, next_ms, holder, until_ms, ord)
  ),
  room AS (SELECT $9::bigint - last_value + CASE WHEN is_called THEN 0 ELSE 1 END AS left FROM ticket_seq),
  n AS (SELECT r.*, CASE WHEN r.ord <= room.left THEN nextval('ticket_seq') END AS t FROM r, room ORDER BY r.ord),
  l AS (INSERT INTO ledger (ticket, requester, issued_at) SELECT t, requester, at FROM n WHERE t IS NOT NULL)
  INSERT INTO outbox (id, ticket, mail, state, queued_at, next_attempt_ms, holder, claim_until_ms)
  SELECT id, t, replace(mail, mark, t::text)::jsonb, 'held', at, next_ms, holder::jsonb, until_ms FROM n WHERE t IS NOT NULL
  RETURNING id, ticket::text`;

const RELEASE_MANY = `
  WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS r(id, holder, until_ms)),
  l AS (UPDATE ledger SET accepted = true WHERE ticket IN (SELECT o.ticket FROM outbox o JOIN r ON o.id = r.id))
  UPDATE outbox o SET state = 'sending', holder = r.holder::jsonb, claim_until_ms = r.until_ms, claim_token = o.claim_token + 1
  FROM r WHERE o.id = r.id AND o.state = 'held' RETURNING o.*`;

const SENT_MANY = `
  DELETE FROM outbox o USING unnest($1::text[], $2::bigint[]) AS r(id, token)
  WHERE o.id = r.id AND o.claim_token = r.token AND o.state = 'sending' RETURNING o.id`;

export interface Singles<Row> {
  issue(i: IssueInput): Promise<string>;
  release(i: ReleaseInput): Promise<Row | null>;
  sent(i: SentInput): Promise<boolean>;
  /** a lost connection during an issue: the copy may exist, held, with nobody to release it */
  orphan(id: string, untilMs: number): void;
}

export class GroupedWrites<Row> {
  readonly issue: Batcher<IssueInput, string>;
  readonly release: Batcher<ReleaseInput, Row | null>;
  readonly sent: Batcher<SentInput, boolean>;

  constructor(private readonly sql: SQL, private readonly where: string, private readonly singles: Singles<Row>) {
    this.issue = new Batcher((xs) => this.issueMany(xs), GROUPING);
    this.release = new Batcher((xs) => this.many(xs, "release an admin copy", (ys) => this.releaseMany(ys), (y) => singles.release(y)), GROUPING);
    this.sent = new Batcher((xs) => this.many(xs, "record a delivery", (ys) => this.sentMany(ys), (y) => singles.sent(y)), GROUPING);
  }

  private issueMany(xs: IssueInput[]): Promise<PromiseSettledResult<string>[]> {
    const col = <K extends keyof IssueInput>(k: K) => xs.map((x) => x[k]);
    return allOrEach(xs, {
      all: async () => {
        const rows = (await this.sql.unsafe(ISSUE_MANY, [col("id"), col("requester"), col("at"), col("json"), col("mark"), col("nowMs"), col("holder"), col("untilMs"), LAST_TICKET])) as { id: string; ticket: string }[];
        const byId = new Map(rows.map((r) => [r.id, r.ticket]));
        return xs.map((x) => {
          const ticket = byId.get(x.id);
          return ticket ? { status: "fulfilled", value: ticket } : { status: "rejected", reason: exhaustedError(this.where) };
        });
      },
      one: (x) => this.singles.issue(x),
      lost: (err) => {
        // committed but the answer lost? Then held copies exist that nobody will release
        for (const x of xs) this.singles.orphan(x.id, x.untilMs);
        return storeError(err, this.where, "issue a ticket");
      },
    });
  }

  private async releaseMany(xs: ReleaseInput[]): Promise<(Row | null)[]> {
    const rows = (await this.sql.unsafe(RELEASE_MANY, [xs.map((x) => x.id), xs.map((x) => x.holder), xs.map((x) => x.untilMs)])) as (Row & { id: string })[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return xs.map((x) => byId.get(x.id) ?? null);
  }

  private async sentMany(xs: SentInput[]): Promise<boolean[]> {
    const rows = (await this.sql.unsafe(SENT_MANY, [xs.map((x) => x.id), xs.map((x) => x.claimToken)])) as { id: string }[];
    const done = new Set(rows.map((r) => r.id));
    return xs.map((x) => done.has(x.id));
  }

  /** One statement for all of `xs`, or one each (allOrEach). */
  private many<I, O>(xs: I[], what: string, all: (xs: I[]) => Promise<O[]>, one: (x: I) => Promise<O>): Promise<PromiseSettledResult<O>[]> {
    return allOrEach(xs, {
      all: async () => {
        const out = await all(xs);
        return fulfilled(xs.length, (i) => out[i]!);
      },
      one,
      lost: (err) => storeError(err, this.where, what),
    });
  }
}
