// `bun bench/postgres.ts` (also `bun run bench:postgres`): the PostgreSQL store against the
// SQLite store, in the same run, on this machine (docs/several-machines.md "Running on several machines",
// BENCHMARKS.md "PostgreSQL"). Needs the throwaway cluster of scripts/pgstack.sh (PGSTACK_ENV_FILE).
//
//   1. tickets/s of one server.ts, SQLite vs PostgreSQL (same SMTP sink, same load): target ≥ 0.8×
//   2. the store path alone — issue (number + ledger + held copy), release — from three
//      processes, against the SMTP-bound ticket rate of (1): target ≥ 5×
//   3. PostgreSQL's own CPU per ticket during (2), for the capacity of N servers on paper
//
// Prints one JSON object {"result": …} and a short text; `--markdown` prints the BENCHMARKS.md section.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { closedLoop } from "./load";
import { BUN, benchEnv, spawnChild, stopAll } from "./proc";
import { freePort } from "../tests/helpers/kit";
import { dropDatabase, freshDatabase, pgstackEnv } from "../tests/helpers/pgstack";

const LOGIN = "admin@mailer.test";
const PASSWORD = "bench-password";
const TICKETS = Number(process.env.BENCH_PG_TICKETS ?? 4000);
const STORE_TICKETS = Number(process.env.BENCH_PG_STORE_TICKETS ?? 6000);
const CONNECTIONS = 50;

async function waitPort(port: number, what: string, output: () => string): Promise<void> {
  for (const deadline = Date.now() + 20_000; ; ) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what} did not start:\n${output()}`);
      await Bun.sleep(50);
    }
  }
}

/** Tickets/s of one server.ts on the given store, against the sink. */
async function serverRate(smtpPort: number, extra: Record<string, string>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "mailer-benchpg-"));
  const port = freePort();
  const env = benchEnv({
    EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, ADMIN_EMAIL: LOGIN, SMTP_HOST: "127.0.0.1", SMTP_PORT: String(smtpPort),
    SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), STATE_DIR: join(dir, "state"), LOG_DIR: join(dir, "logs"),
    RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0", SMTP_POOL_SIZE: "5", ...extra,
  });
  const server = spawnChild([BUN, "--no-env-file", "server.ts"], { env });
  await waitPort(port, "server.ts", server.output);
  await closedLoop({ port, connections: CONNECTIONS, total: 300 }); // warm-up
  const r = await closedLoop({ port, connections: CONNECTIONS, total: TICKETS });
  await server.stop("SIGTERM");
  if (r.ok !== TICKETS) throw new Error(`server run: ${r.ok}/${TICKETS} OK, errors ${JSON.stringify(r.errors)}`);
  return r.perSecond;
}

/** CPU seconds (user + system) of the whole cluster: the postmaster, its live children, and
 *  the children it has reaped (a backend's CPU moves to the postmaster's cutime when it exits). */
function clusterCpu(dataDir: string): number {
  const pm = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const tick = 100; // USER_HZ
  let total = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // fields after "(comm)": [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
      if (Number(pid) === pm) total += (f[11]! + f[12]! + f[13]! + f[14]!) / tick;
      else if (f[1] === pm) total += (f[11]! + f[12]!) / tick;
    } catch {}
  }
  return total;
}

/** The store path alone from three processes (bench/postgres-store-worker.ts). */
async function storeRate(url: string, dataDir: string): Promise<{ perSecond: number; pgCpuMsPerTicket: number }> {
  const per = Math.floor(STORE_TICKETS / 3);
  const cpu0 = clusterCpu(dataDir);
  const workers = [0, 1, 2].map(() => spawnChild([BUN, "bench/postgres-store-worker.ts"], { env: benchEnv({ URL: url, TICKETS: String(per), CONCURRENCY: process.env.BENCH_PG_CONCURRENCY ?? "64" }) }));
  const codes = await Promise.all(workers.map((w) => w.exited));
  const cpu = clusterCpu(dataDir) - cpu0;
  if (codes.some((c) => c !== 0)) throw new Error(`store worker failed:\n${workers.map((w) => w.output()).join("\n")}`);
  // the three ran side by side: the slowest one's time covers all of them
  const seconds = Math.max(...workers.map((w) => w.messages.find((m) => m?.result)!.result.ms as number)) / 1000;
  return { perSecond: (per * 3) / seconds, pgCpuMsPerTicket: (cpu * 1000) / (per * 3) };
}

async function main(): Promise<void> {
  const pg = pgstackEnv();
  if (!pg) throw new Error("no PostgreSQL: start it with `scripts/pgstack.sh install && scripts/pgstack.sh start /tmp/pgstack` (or set PGSTACK_ENV_FILE)");
  const sink = spawnChild([BUN, "bench/sink.ts"], { env: benchEnv({ SINK_LOGIN: LOGIN, SINK_PASSWORD: PASSWORD }) });
  const smtpPort = (await sink.waitFor("ready")).port as number;
  const url = await freshDatabase(pg, "bench");
  try {
    // alternated, so that a slower moment of a shared machine does not favour one engine
    const sqlite: number[] = [];
    const postgres: number[] = [];
    for (let i = 0; i < 2; i++) {
      sqlite.push(await serverRate(smtpPort, {}));
      postgres.push(await serverRate(smtpPort, { STATE_DATABASE_URL: url }));
    }
    const best = (xs: number[]) => Math.max(...xs);
    const store = await storeRate(url, join(pg.dir, "data"));
    const cores = navigator.hardwareConcurrency;
    const result = {
      tickets: TICKETS,
      connections: CONNECTIONS,
      sqlitePerSecond: Math.round(best(sqlite)),
      postgresPerSecond: Math.round(best(postgres)),
      ratio: +(best(postgres) / best(sqlite)).toFixed(2),
      storePathPerSecond: Math.round(store.perSecond),
      storeVsSmtpBound: +(store.perSecond / best(postgres)).toFixed(1),
      pgCpuMsPerTicket: +store.pgCpuMsPerTicket.toFixed(3),
      cores,
    };
    console.log(JSON.stringify({ result }));
    if (process.argv.includes("--markdown")) console.log(markdown(result));
  } finally {
    await dropDatabase(pg, url).catch(() => {});
    await stopAll();
  }
}

function markdown(r: { tickets: number; connections: number; sqlitePerSecond: number; postgresPerSecond: number; ratio: number; storePathPerSecond: number; storeVsSmtpBound: number; pgCpuMsPerTicket: number; cores: number }): string {
  const pgCapacity = Math.round(1000 / r.pgCpuMsPerTicket);
  return [
    `| measure | figure | target |`,
    `|---|---|---|`,
    `| one server.ts, SQLite store (${r.tickets} tickets, ${r.connections} connections) | ${r.sqlitePerSecond} tickets/s | — |`,
    `| one server.ts, PostgreSQL store, same load | ${r.postgresPerSecond} tickets/s | — |`,
    `| PostgreSQL ÷ SQLite | ${r.ratio}× | ≥ 0.8× |`,
    `| store path alone (issue + release), 3 processes | ${r.storePathPerSecond} tickets/s | — |`,
    `| store path ÷ SMTP-bound ticket rate | ${r.storeVsSmtpBound}× | ≥ 5× |`,
    `| PostgreSQL CPU per ticket (all its processes) | ${r.pgCpuMsPerTicket} ms | — |`,
    ``,
    `On paper: one core of PostgreSQL at ${r.pgCpuMsPerTicket} ms per ticket carries about ${pgCapacity} tickets/s; N servers each SMTP-bound at ~${r.postgresPerSecond}/s need N × ${(r.postgresPerSecond * r.pgCpuMsPerTicket / 1000).toFixed(2)} cores of it.`,
  ].join("\n");
}

await main();
