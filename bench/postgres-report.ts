// BENCHMARKS.md section 7 (PostgreSQL) from the figures of bench/postgres-section.ts: its
// headline rows, its table and the "on paper" capacity of N servers on one database. Pure.
import { fmt, verdict } from "./stats";

export interface PostgresFigures {
  /** which cluster was measured */
  source: string;
  version: string;
  tickets: number; warmup: number; connections: number; reps: number;
  sqliteRuns: number[]; postgresRuns: number[];
  /** medians over reps */
  sqlitePerSec: number; postgresPerSec: number; ratio: number;
  /** per ticket of the PostgreSQL server runs (warm-up included): the database's commits, and
   *  the CPU of all its processes */
  commitsPerTicket: number; pgCpuMsPerTicket: number;
  store: { tickets: number; processes: number; perSec: number; vsSmtpBound: number; commitsPerTicket: number; pgCpuMsPerTicket: number };
  /** the PostgreSQL server again with the shared recipient limit counting (not judged) */
  withRecipientLimit?: { limitPerHour: number; runs: number[]; perSec: number; commitsPerTicket: number; pgCpuMsPerTicket: number };
  /** set when measured on its own (`bun run bench:postgres`), not in the run of the report */
  separately?: { date: string; commit: string; load: number[] };
  cores: number;
}

type Row = { what: string; figure: string; target: string; verdict: string };

export function postgresTargets(r: PostgresFigures): Row[] {
  return [
    { what: "One server on PostgreSQL ÷ the same on SQLite (tickets/s)", figure: `${fmt(r.ratio, 2)}×`, target: "≥ 0.8×", verdict: verdict(Number.isFinite(r.ratio) ? r.ratio >= 0.8 : null) },
    { what: "PostgreSQL store path alone, 3 processes ÷ SMTP-bound ticket rate", figure: `${fmt(r.store.vsSmtpBound, 1)}×`, target: "≥ 5×", verdict: verdict(Number.isFinite(r.store.vsSmtpBound) ? r.store.vsSmtpBound >= 5 : null) },
  ];
}

/** Tickets/s one core of PostgreSQL carries at `ms` of its CPU per ticket. */
const perCore = (ms: number) => 1000 / ms;

export function renderPostgres(r: PostgresFigures): string[] {
  const out: string[] = [];
  const runs = (xs: number[]) => xs.map((x) => fmt(x, 0)).join(", ");
  out.push(`PostgreSQL ${r.version}: ${r.source}.`, "");
  if (r.separately) {
    const load = r.separately.load.map((x) => x.toFixed(2)).join(" / ");
    out.push(`Measured on its own by \`bun run bench:postgres\` on ${r.separately.date}, commit ${r.separately.commit}, load average ${load} before — not in the run above.`, "");
  }
  out.push("| measure | figure | per repetition |", "|---|---|---|");
  out.push(`| one server.ts, SQLite store (${r.tickets.toLocaleString("en-US")} tickets × ${r.reps}, ${r.connections} connections) | ${fmt(r.sqlitePerSec, 0)} tickets/s | ${runs(r.sqliteRuns)} |`);
  out.push(`| one server.ts, PostgreSQL store, same load | ${fmt(r.postgresPerSec, 0)} tickets/s | ${runs(r.postgresRuns)} |`);
  out.push(`| PostgreSQL ÷ SQLite | **${fmt(r.ratio, 2)}×** | |`);
  out.push(`| … the database's commits per ticket (group commit) | ${fmt(r.commitsPerTicket, 2)} | |`);
  out.push(`| … the database's CPU per ticket (all its processes) | ${fmt(r.pgCpuMsPerTicket, 3)} ms | |`);
  const rl = r.withRecipientLimit;
  if (rl) {
    out.push(`| one server.ts, PostgreSQL, the shared recipient limit counting (RECIPIENT_LIMIT_PER_HOUR=${rl.limitPerHour.toLocaleString("en-US")}; not judged) | ${fmt(rl.perSec, 0)} tickets/s | ${runs(rl.runs)} |`);
    out.push(`| … its commits / database CPU per ticket | ${fmt(rl.commitsPerTicket, 2)} / ${fmt(rl.pgCpuMsPerTicket, 3)} ms | |`);
  }
  out.push(`| store path alone (issue + release + "sent"), ${r.store.processes} processes, ${r.store.tickets.toLocaleString("en-US")} tickets | ${fmt(r.store.perSec, 0)} tickets/s | |`);
  out.push(`| store path ÷ SMTP-bound ticket rate (the PostgreSQL server's) | **${fmt(r.store.vsSmtpBound, 1)}×** | |`);
  out.push(`| … its commits / database CPU per ticket | ${fmt(r.store.commitsPerTicket, 2)} / ${fmt(r.store.pgCpuMsPerTicket, 3)} ms | |`);
  out.push("");
  const need = (r.postgresPerSec * r.pgCpuMsPerTicket) / 1000;
  out.push(
    `On paper, N servers and one PostgreSQL: a server's tickets cost the database ${fmt(r.pgCpuMsPerTicket, 3)} ms of CPU and ${fmt(r.commitsPerTicket, 2)} commits each ` +
      `(measured above, in the server path), so one core of PostgreSQL carries about ${fmt(perCore(r.pgCpuMsPerTicket), 0)} tickets/s, and N servers each SMTP-bound at ` +
      `~${fmt(r.postgresPerSec, 0)} tickets/s (this machine, which also ran the sink and the load) need N × ${fmt(need, 2)} of its cores — about ${fmt(1 / need, 1)} servers per core ` +
      `before the database limits anything (calls that arrive together share one statement, so the commits per ticket fall as the load grows). The SMTP server behind them, not the database, ` +
      `is the limit.` +
      (rl ? ` With the shared rate limits counting (on by default) a ticket costs ${fmt(rl.pgCpuMsPerTicket, 3)} ms (the recipient limit above; the per-client one is one more key in the same call, not measured here): about ${fmt((r.postgresPerSec * rl.pgCpuMsPerTicket) / 1000, 2)} cores per server.` : ""),
  );
  out.push("");
  return out;
}

export function postgresMethod(): string {
  return (
    "- **PostgreSQL** (section 7, bench/postgres-section.ts): the cluster of PGSTACK_ENV_FILE when that is set, otherwise a throwaway one started for the run by `scripts/pgstack.sh start` " +
    "(fresh directory, loopback, a free port; skipped with the reason when PostgreSQL is not installed or the bench is not root). One fresh database. `bun server.ts` as in section 1 " +
    "(same sink settings, rate limits off), once on SQLite (STATE_DIR) and once with STATE_DATABASE_URL, alternated, the first of each pair swapped every repetition; the load is `bench/load.ts closed` " +
    "with warm-up. Commits per ticket: pg_stat_database.xact_commit of the database over the server's whole life ÷ its tickets (warm-up included); CPU: /proc of the postmaster and its children " +
    "(reaped ones via cutime/cstime). Store path: three processes (`bench/postgres-store-worker.ts`, 64 calls at a time each, a pool of 10) doing the server's three writes per ticket " +
    "(issue with the held copy, release claimed for the first attempt, the \"sent\" record) with no SMTP; tickets/s over the slowest process's time. " +
    "A third server run per repetition, not judged, counts the shared recipient limit (RECIPIENT_LIMIT_PER_HOUR so high that it never refuses)."
  );
}
