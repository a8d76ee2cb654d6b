// BENCHMARKS.md's PostgreSQL section (bench/postgres-report.ts) as part of the report
// (bench/report.ts): its two target rows, judged at the thresholds of issue #14, the on-paper
// capacity from the measured per-ticket cost, and a skipped section reported with its reason.
import { describe, expect, test } from "bun:test";
import type { PostgresFigures } from "../../bench/postgres-report";
import { renderReport, targets, type Results } from "../../bench/report";

const base: Results = {
  quick: false, durationSec: 1, params: {},
  machine: { date: "2026-01-01T00:00:00Z", commit: "abc", nproc: 2, memoryGiB: 24, cpuModel: "cpu", bun: "1.4.4", kernel: "k", loadBefore: [0, 0, 0], loadAfter: [0, 0, 0], ulimitNofile: "20000" },
};

const figures = (ratio: number, vsSmtpBound: number): PostgresFigures => ({
  source: "a throwaway cluster", version: "15.18", tickets: 5000, warmup: 300, connections: 50, reps: 3,
  sqliteRuns: [2000, 2000, 2000], postgresRuns: [2000 * ratio, 2000 * ratio, 2000 * ratio], sqlitePerSec: 2000, postgresPerSec: 2000 * ratio, ratio,
  commitsPerTicket: 0.5, pgCpuMsPerTicket: 0.2,
  store: { tickets: 9000, processes: 3, perSec: 2000 * ratio * vsSmtpBound, vsSmtpBound, commitsPerTicket: 0.1, pgCpuMsPerTicket: 0.1 },
  cores: 2,
});

describe("report: PostgreSQL", () => {
  test("its two rows are judged at 0.8× and 5×", () => {
    expect(targets({ ...base, postgres: figures(0.8, 5) }).map((t) => [t.target, t.verdict])).toEqual([["≥ 0.8×", "PASS"], ["≥ 5×", "PASS"]]);
    expect(targets({ ...base, postgres: figures(0.79, 4.9) }).map((t) => t.verdict)).toEqual(["MISS", "MISS"]);
  });

  test("section 7 has the figures and the on-paper capacity from the measured cost per ticket", () => {
    const md = renderReport({ ...base, postgres: figures(0.9, 6) });
    expect(md).toContain("## 7. PostgreSQL: several servers on one database");
    expect(md).toContain("| PostgreSQL ÷ SQLite | **0.90×** | |");
    // 0.2 ms per ticket: 5,000 tickets/s per core; 1,800 tickets/s per server → 0.36 cores each
    expect(md).toContain("one core of PostgreSQL carries about 5,000 tickets/s");
    expect(md).toContain("need N × 0.36 of its cores");
    expect(md).toContain("**PostgreSQL**"); // its method line
  });

  test("a skipped section is reported with its reason, not judged", () => {
    const md = renderReport({ ...base, postgres: { skipped: "PostgreSQL is not installed" } });
    expect(md).toContain("## 7. PostgreSQL");
    expect(md).toContain("Skipped (not judged): PostgreSQL is not installed");
    expect(targets({ ...base, postgres: { skipped: "x" } })).toEqual([]);
  });
});
