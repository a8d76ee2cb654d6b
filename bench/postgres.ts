// `bun bench/postgres.ts` (also `bun run bench:postgres`): only the PostgreSQL section of
// `bun run bench` (bench/postgres-section.ts: the PostgreSQL store against the SQLite store, in
// the same run), printed instead of written to BENCHMARKS.md — `bun run bench` includes it.
// Uses the stack of PGSTACK_ENV_FILE when set, else starts a throwaway cluster of its own.
//
// Prints one JSON line {"result": …}; `--markdown` also prints the section as BENCHMARKS.md has
// it; `--quick` takes the small counts.
import { postgresTargets, renderPostgres } from "./postgres-report";
import { POSTGRES_PARAMS, postgresSection } from "./postgres-section";
import { stopAll } from "./proc";

const quick = process.argv.includes("--quick");
try {
  const r = await postgresSection(quick ? POSTGRES_PARAMS.quick : POSTGRES_PARAMS.full, (line) => console.error(line));
  console.log(JSON.stringify({ result: r }));
  if ("skipped" in r) console.log(`skipped: ${r.skipped}`);
  else {
    if (process.argv.includes("--markdown")) console.log(["", ...renderPostgres(r)].join("\n"));
    for (const t of postgresTargets(r)) console.log(`${t.verdict.padEnd(4)}  ${t.what}: ${t.figure} (target ${t.target})`);
  }
} finally {
  await stopAll();
}
