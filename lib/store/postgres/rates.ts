// Shared sliding-window rate limits: one call of rate_hit() (schema.ts), so that a client
// reaching several servers is counted once, across all of them, in one round trip. The hits that
// arrive together share one call of rate_hit_many() — one round trip and one commit for all,
// each request counted as if one after another (batch.ts).
import type { SQL } from "bun";
import type { RateCheck, RateStore } from "../types";
import { allOrEach, Batcher, fulfilled } from "./batch";
import { op, storeError } from "./connect";

type Hit = { ok: true } | { ok: false; index: number; retryAfterMs: number };

interface HitInput {
  checks: RateCheck[];
  nowMs: number;
}

export class PgRates implements RateStore {
  private readonly batch = new Batcher<HitInput, Hit>((xs) => this.many(xs), { inFlight: 2, maxBatch: 200 });

  constructor(private readonly sql: SQL, private readonly where: string) {}

  hit(checks: RateCheck[], now = new Date()): Promise<Hit> {
    if (checks.length === 0) return Promise.resolve({ ok: true });
    return this.batch.call({ checks, nowMs: now.getTime() });
  }

  private one(x: HitInput): Promise<Hit> {
    return op(this.where, "count a rate limit", async () => {
      const rows = (await this.sql.unsafe(`SELECT full_index, retry_after_ms FROM rate_hit($1::text[], $2::int[], $3::bigint[], $4)`, [
        x.checks.map((c) => c.key),
        x.checks.map((c) => c.limit),
        x.checks.map((c) => c.windowMs),
        x.nowMs,
      ])) as { full_index: number; retry_after_ms: string }[];
      const full = rows[0];
      return full ? { ok: false, index: full.full_index, retryAfterMs: Math.max(1, Number(full.retry_after_ms)) } : { ok: true };
    });
  }

  private many(xs: HitInput[]): Promise<PromiseSettledResult<Hit>[]> {
    return allOrEach(xs, {
      all: async () => {
        const flat = xs.flatMap((x, req) => x.checks.map((c) => ({ req, c, nowMs: x.nowMs })));
        const rows = (await this.sql.unsafe(`SELECT req, full_index, retry_after_ms FROM rate_hit_many($1::int[], $2::text[], $3::int[], $4::bigint[], $5::bigint[])`, [
          flat.map((f) => f.req),
          flat.map((f) => f.c.key),
          flat.map((f) => f.c.limit),
          flat.map((f) => f.c.windowMs),
          flat.map((f) => f.nowMs),
        ])) as { req: number; full_index: number; retry_after_ms: string }[];
        const refused = new Map(rows.map((r) => [r.req, r]));
        return fulfilled(xs.length, (req) => {
          const full = refused.get(req);
          return full ? { ok: false, index: full.full_index, retryAfterMs: Math.max(1, Number(full.retry_after_ms)) } : { ok: true };
        });
      },
      one: (x) => this.one(x),
      lost: (err) => storeError(err, this.where, "count a rate limit"),
    });
  }
}
