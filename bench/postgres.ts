// `bun bench/postgres.ts` (also `bun run bench:postgres`): only the PostgreSQL section of
// `bun run bench` (bench/postgres-section.ts: the PostgreSQL store against the SQLite store, in
// the same run), printed instead of written to BENCHMARKS.md — `bun run bench` includes it.
// Uses the stack of PGSTACK_ENV_FILE when set, else starts a throwaway cluster of its own.
//
// Prints one JSON line {"result": …}; `--markdown` also prints the section as BENCHMARKS.md has
// it; `--quick` takes the small counts. The result can be put into a saved run of
// `bun run bench` (bench/results/*.json, key "postgres") and rendered with `--render`.
import { postgresTargets, renderPostgres } from "./postgres-report";
import { POSTGRES_PARAMS, postgresSection } from "./postgres-section";
import { REPO, stopAll } from "./proc";
import { loadavg } from "node:os";

const quick = process.argv.includes("--quick");
// through process.exit, so that a throwaway cluster is stopped on the way out (its "exit" handler)
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stopAll().finally(() => process.exit(130)));
try {
  const load = loadavg();
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO }).stdout.toString().trim() || "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: REPO }).stdout.toString().trim() ? " (with uncommitted changes)" : "";
  const measured = await postgresSection(quick ? POSTGRES_PARAMS.quick : POSTGRES_PARAMS.full, (line) => console.error(line));
  const r = "skipped" in measured ? measured : { ...measured, separately: { date, commit: commit + dirty, load } };
  console.log(JSON.stringify({ result: r }));
  if ("skipped" in r) console.log(`skipped: ${r.skipped}`);
  else {
    if (process.argv.includes("--markdown")) console.log(["", ...renderPostgres(r)].join("\n"));
    for (const t of postgresTargets(r)) console.log(`${t.verdict.padEnd(4)}  ${t.what}: ${t.figure} (target ${t.target})`);
  }
} finally {
  await stopAll();
}
