// Shared sliding-window rate limits: one call of the rate_hit() function (schema.ts), so that a
// client reaching several servers is counted once, across all of them, in one round trip.
import type { SQL } from "bun";
import type { RateCheck, RateStore } from "../types";
import { op } from "./connect";

export class PgRates implements RateStore {
  constructor(private readonly sql: SQL, private readonly where: string) {}

  hit(checks: RateCheck[], now = new Date()): Promise<{ ok: true } | { ok: false; index: number; retryAfterMs: number }> {
    if (checks.length === 0) return Promise.resolve({ ok: true });
    return op(this.where, "count a rate limit", async () => {
      const rows = (await this.sql.unsafe(`SELECT full_index, retry_after_ms FROM rate_hit($1::text[], $2::int[], $3::bigint[], $4)`, [
        checks.map((c) => c.key),
        checks.map((c) => c.limit),
        checks.map((c) => c.windowMs),
        now.getTime(),
      ])) as { full_index: number; retry_after_ms: string }[];
      const full = rows[0];
      return full ? { ok: false, index: full.full_index, retryAfterMs: Math.max(1, Number(full.retry_after_ms)) } : { ok: true };
    });
  }
}
