// Sliding-window rate limits: at most `limit` events per key in any `windowMs`. Used per
// client IP (RATE_LIMIT_PER_MINUTE) and per recipient (RECIPIENT_LIMIT_PER_HOUR). Memory is
// bounded by the keys active within one window; idle keys are pruned as time moves on.
// Time is monotonic (performance.now): setting the wall clock back or forward (NTP, a person)
// neither stretches a window nor ends it early.

export type RateDecision = { ok: true } | { ok: false; retryAfter: number };

export class RateLimiter {
  private readonly events = new Map<string, number[]>();
  private lastSweep = 0;

  /** @param limit events per window; 0 turns the limit off */
  constructor(readonly limit: number, readonly windowMs: number, private readonly now: () => number = () => performance.now()) {}

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Whether one more event for `key` fits now; when not, whole seconds until it will. */
  check(key: string): RateDecision {
    if (!this.enabled) return { ok: true };
    const t = this.now();
    const times = this.prune(key, t);
    if (times.length < this.limit) return { ok: true };
    const retryMs = times[0]! + this.windowMs - t;
    return { ok: false, retryAfter: Math.max(1, Math.ceil(retryMs / 1000)) };
  }

  record(key: string): void {
    if (!this.enabled) return;
    const t = this.now();
    const times = this.prune(key, t);
    times.push(t);
    this.events.set(key, times);
    this.sweep(t);
  }

  /** Keys currently tracked (for tests and memory checks). */
  get size(): number {
    return this.events.size;
  }

  private prune(key: string, t: number): number[] {
    const times = this.events.get(key) ?? [];
    let drop = 0;
    while (drop < times.length && times[drop]! <= t - this.windowMs) drop++;
    if (drop) times.splice(0, drop);
    if (times.length === 0) this.events.delete(key);
    return times;
  }

  private sweep(t: number): void {
    if (t - this.lastSweep < this.windowMs) return;
    this.lastSweep = t;
    for (const key of [...this.events.keys()]) this.prune(key, t);
  }
}
