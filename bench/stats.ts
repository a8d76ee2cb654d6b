// Pure statistics helpers for the benchmarks: percentiles over latency samples and the median
// of repetitions. No I/O, so tests/bench-helpers.test.ts can check them exactly.

/**
 * The p-th percentile (0–100) of `values` by the nearest-rank method: the smallest sample such
 * that at least p% of the samples are ≤ it. Nearest-rank never invents a value that was not
 * measured, which is what a latency report should show. Empty input → NaN.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The median; for an even count, the mean of the two middle values. Empty input → NaN. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Smallest and largest, for the "spread" column next to a median. */
export function spread(values: readonly number[]): { min: number; max: number } {
  if (values.length === 0) return { min: NaN, max: NaN };
  return { min: Math.min(...values), max: Math.max(...values) };
}

/** Latency summary (milliseconds) of one run. */
export interface LatencySummary { count: number; p50: number; p90: number; p99: number; max: number; mean: number }

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  const count = latenciesMs.length;
  const mean = count ? latenciesMs.reduce((a, b) => a + b, 0) / count : NaN;
  return {
    count,
    p50: percentile(latenciesMs, 50),
    p90: percentile(latenciesMs, 90),
    p99: percentile(latenciesMs, 99),
    max: count ? Math.max(...latenciesMs) : NaN,
    mean,
  };
}

/** Ratio of a measured rate to its limit, NaN when either is missing or the limit is 0. */
export function ratio(measured: number, limit: number): number {
  if (!Number.isFinite(measured) || !Number.isFinite(limit) || limit <= 0) return NaN;
  return measured / limit;
}

/** "PASS" / "MISS" for a target; "n/a" when the figure could not be measured. */
export function verdict(ok: boolean | null): "PASS" | "MISS" | "n/a" {
  return ok === null ? "n/a" : ok ? "PASS" : "MISS";
}

/** Fixed, readable number formatting for the report. */
export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return "—";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function pct(r: number): string {
  return Number.isFinite(r) ? `${(r * 100).toFixed(0)}%` : "—";
}
