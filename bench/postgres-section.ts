// Section 7 of `bun run bench` (and all of `bun run bench:postgres`): the PostgreSQL store
// against the SQLite store, in the same run, on this machine (docs/several-machines.md).
//
//   1. tickets/s of one server.ts, SQLite vs PostgreSQL (same sink, same load, alternated):
//      target ≥ 0.8×; with the database's commits and CPU per ticket on the way
//   2. the store path alone — issue (number + ledger + held copy), release, "sent" — from three
//      processes (bench/postgres-store-worker.ts), against the SMTP-bound rate of (1): target ≥ 5×
//
// The database: the running stack of PGSTACK_ENV_FILE when that is set; otherwise a throwaway
// cluster of its own (scripts/pgstack.sh start: loopback, a free port, a fresh temporary
// directory, stopped and removed afterwards) when PostgreSQL is installed and we may run it as
// the postgres user (root); otherwise the section is skipped with the reason.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { freePort } from "../tests/helpers/kit";
import { dropDatabase, freshDatabase, PGSTACK_SCRIPT, pgstackEnv, type PgstackEnv } from "../tests/helpers/pgstack";
import { BUN, benchEnv, runHelper, spawnChild } from "./proc";
import type { PostgresFigures } from "./postgres-report";
import { median } from "./stats";

export interface PostgresParams {
  tickets: number;
  warmup: number;
  reps: number;
  connections: number;
  storeTickets: number;
}

export const POSTGRES_PARAMS = {
  full: { tickets: 5000, warmup: 300, reps: 3, connections: 50, storeTickets: 9000 },
  quick: { tickets: 1500, warmup: 200, reps: 1, connections: 50, storeTickets: 3000 },
} satisfies Record<string, PostgresParams>;

/** RECIPIENT_LIMIT_PER_HOUR of the rate-limited run: counted, never full */
const RATE_ROOM = 1_000_000;
const LOGIN = "admin@mailer.test";
const PASSWORD = "bench-password";

interface Cluster {
  env: PgstackEnv;
  source: string;
  release(): Promise<void>;
}

export async function postgresSection(p: PostgresParams, log: (line: string) => void): Promise<PostgresFigures | { skipped: string }> {
  const cluster = await acquire(log);
  if ("skipped" in cluster) return cluster;
  try {
    return await measure(p, cluster, log);
  } finally {
    await cluster.release();
  }
}

// ---------------------------------------------------------------------------------------------
// the database

function pgBin(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  for (const v of readdirSync(root).sort().reverse()) if (existsSync(join(root, v, "bin", "pg_ctl"))) return join(root, v, "bin");
  return null;
}

async function acquire(log: (line: string) => void): Promise<Cluster | { skipped: string }> {
  const configured = process.env.PGSTACK_ENV_FILE;
  if (configured) {
    const env = pgstackEnv(configured);
    if (!env) throw new Error(`PGSTACK_ENV_FILE=${configured} does not exist: start that stack (scripts/pgstack.sh start DIR) or unset PGSTACK_ENV_FILE to let the bench start a cluster of its own`);
    return { env, source: `the running cluster of PGSTACK_ENV_FILE (${configured}, 127.0.0.1:${env.port})`, release: async () => {} };
  }
  if (!pgBin()) return { skipped: "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): `scripts/pgstack.sh install` installs it from Debian, or point PGSTACK_ENV_FILE at a running stack's pg.env" };
  if (process.getuid?.() !== 0) return { skipped: "a throwaway cluster runs as the postgres user, which needs root (scripts/pgstack.sh): run the bench as root, or point PGSTACK_ENV_FILE at a running stack's pg.env" };
  // not under the bench's scratch directory: the postgres user must be able to reach it
  const dir = mkdtempSync("/tmp/mailer-benchpg-");
  const port = freePort();
  const stop = () => Bun.spawnSync(["bash", PGSTACK_SCRIPT, "stop", dir], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  // an interrupted bench (run.ts exits on SIGINT/SIGTERM) must not leave the cluster running
  const onExit = () => { stop(); rmSync(dir, { recursive: true, force: true }); };
  process.on("exit", onExit);
  const started = Bun.spawnSync(["bash", PGSTACK_SCRIPT, "start", dir], { env: { ...process.env, PGSTACK_PORT: String(port) }, stdin: "ignore" });
  const env = pgstackEnv(join(dir, "pg.env"));
  if (started.exitCode !== 0 || !env) {
    onExit();
    process.off("exit", onExit);
    throw new Error(`scripts/pgstack.sh start ${dir} failed (exit ${started.exitCode}): ${(started.stderr.toString() + started.stdout.toString()).slice(-1500)}`);
  }
  log(`postgres: started a throwaway cluster in ${dir} on 127.0.0.1:${port}`);
  return {
    env,
    source: `a throwaway cluster started for this run by \`scripts/pgstack.sh start\` (127.0.0.1, a free port, fsync and synchronous_commit on), stopped afterwards`,
    release: async () => {
      onExit();
      process.off("exit", onExit);
    },
  };
}

/** CPU seconds (user + system) of the whole cluster: the postmaster, its live children, and
 *  the children it has reaped (a backend's CPU moves to the postmaster's cutime when it exits). */
function clusterCpu(dataDir: string): number {
  const pm = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const tick = 100; // USER_HZ
  let total = 0;
  for (const pid of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
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

/** What the database has done so far: commits in our database, and the cluster's CPU. */
async function dbWork(url: string, dataDir: string): Promise<{ commits: number; cpuSec: number }> {
  const sql = new SQL({ url, database: new URL(url).pathname.slice(1), max: 1 });
  try {
    const [row] = (await sql.unsafe(`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()`)) as { n: string }[];
    return { commits: Number(row!.n), cpuSec: clusterCpu(dataDir) };
  } finally {
    await sql.close();
  }
}

// ---------------------------------------------------------------------------------------------
// the measurements

async function waitPort(port: number, output: () => string): Promise<void> {
  for (const deadline = Date.now() + 20_000; ; ) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`server.ts did not start:\n${output().slice(-2000)}`);
      await Bun.sleep(50);
    }
  }
}

/** Tickets/s of one server.ts (a fresh STATE_DIR; `url`: on PostgreSQL) against the sink. */
async function serverRate(p: PostgresParams, smtpPort: number, url: string | null, extra: Record<string, string> = {}): Promise<number> {
  const dir = mkdtempSync(join(process.env.TMPDIR ?? "/tmp", "mailer-benchpg-server-"));
  const port = freePort();
  const env = benchEnv({
    EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, ADMIN_EMAIL: LOGIN, SMTP_HOST: "127.0.0.1", SMTP_PORT: String(smtpPort),
    SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), STATE_DIR: join(dir, "state"), LOG_DIR: join(dir, "logs"),
    RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0", MAX_CONNECTIONS_PER_IP: "0", SMTP_POOL_SIZE: "5",
    ...(url ? { STATE_DATABASE_URL: url } : {}),
    ...extra,
  });
  const server = spawnChild([BUN, "--no-env-file", "server.ts"], { env });
  try {
    await waitPort(port, server.output);
    const load = await runHelper([BUN, "bench/load.ts", "closed", "--port", String(port), "--connections", String(p.connections), "--total", String(p.tickets), "--warmup", String(p.warmup)], { timeoutMs: 600_000 });
    const r = load.result as { ok: number; perSecond: number; errors: Record<string, number> };
    if (r.ok !== p.tickets) throw new Error(`server on ${url ? "PostgreSQL" : "SQLite"}: ${r.ok}/${p.tickets} OK, errors ${JSON.stringify(r.errors)}`);
    return r.perSecond;
  } finally {
    await server.stop("SIGTERM", 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The store path alone from three processes (bench/postgres-store-worker.ts); tickets/s. */
async function storeRate(p: PostgresParams, url: string): Promise<number> {
  const per = Math.floor(p.storeTickets / 3);
  const workers = [0, 1, 2].map(() => spawnChild([BUN, "bench/postgres-store-worker.ts"], { env: benchEnv({ URL: url, TICKETS: String(per), CONCURRENCY: "64" }) }));
  const codes = await Promise.all(workers.map((w) => w.exited));
  if (codes.some((c) => c !== 0)) throw new Error(`store worker failed:\n${workers.map((w) => w.output().slice(-1000)).join("\n")}`);
  // the three ran side by side: the slowest one's time covers all of them
  const seconds = Math.max(...workers.map((w) => w.messages.find((m) => m?.result)!.result.ms as number)) / 1000;
  return (per * 3) / seconds;
}

async function measure(p: PostgresParams, cluster: Cluster, log: (line: string) => void): Promise<PostgresFigures> {
  const { env } = cluster;
  const dataDir = join(env.dir, "data");
  const sink = spawnChild([BUN, "bench/sink.ts"], { env: benchEnv({ SINK_LOGIN: LOGIN, SINK_PASSWORD: PASSWORD }) });
  const url = await freshDatabase(env, "bench");
  try {
    const smtpPort = (await sink.waitFor("ready")).port as number;
    const version = String(((await dbQuery(url, `SELECT current_setting('server_version') AS v`)) as { v: string }[])[0]!.v);
    const sqlite: number[] = [];
    const postgres: number[] = [];
    const commits: number[] = [];
    const cpuMs: number[] = [];
    const limited = { runs: [] as number[], commits: [] as number[], cpuMs: [] as number[] };
    const pgRun = async (into = { runs: postgres, commits, cpuMs }, extra: Record<string, string> = {}) => {
      const before = await dbWork(url, dataDir);
      into.runs.push(await serverRate(p, smtpPort, url, extra));
      const after = await dbWork(url, dataDir);
      const tickets = p.tickets + p.warmup;
      into.commits.push((after.commits - before.commits) / tickets);
      into.cpuMs.push(((after.cpuSec - before.cpuSec) * 1000) / tickets);
    };
    for (let rep = 0; rep < p.reps; rep++) {
      // alternated, the first of each pair swapped every repetition: a slower moment of a
      // shared machine favours neither engine
      if (rep % 2 === 0) { sqlite.push(await serverRate(p, smtpPort, null)); await pgRun(); }
      else { await pgRun(); sqlite.push(await serverRate(p, smtpPort, null)); }
      // not judged: the shared recipient limit on (one rate_hit per ticket; the load's 1,000
      // recipients never fill it); the per-client one would be a single key here (one client address)
      await pgRun(limited, { RECIPIENT_LIMIT_PER_HOUR: String(RATE_ROOM) });
      log(`postgres rep ${rep + 1}: SQLite ${sqlite.at(-1)!.toFixed(0)} tickets/s, PostgreSQL ${postgres.at(-1)!.toFixed(0)} tickets/s (${commits.at(-1)!.toFixed(2)} commits, ${cpuMs.at(-1)!.toFixed(3)} ms database CPU per ticket); with the recipient limit ${limited.runs.at(-1)!.toFixed(0)} tickets/s (${limited.commits.at(-1)!.toFixed(2)} commits, ${limited.cpuMs.at(-1)!.toFixed(3)} ms)`);
    }
    const before = await dbWork(url, dataDir);
    const storePerSec = await storeRate(p, url);
    const after = await dbWork(url, dataDir);
    const pgPerSec = median(postgres);
    const store = {
      tickets: Math.floor(p.storeTickets / 3) * 3, processes: 3, perSec: storePerSec, vsSmtpBound: storePerSec / pgPerSec,
      commitsPerTicket: (after.commits - before.commits) / (Math.floor(p.storeTickets / 3) * 3),
      pgCpuMsPerTicket: ((after.cpuSec - before.cpuSec) * 1000) / (Math.floor(p.storeTickets / 3) * 3),
    };
    log(`postgres store path: ${storePerSec.toFixed(0)} tickets/s from 3 processes (${store.vsSmtpBound.toFixed(1)}× the SMTP-bound rate), ${store.pgCpuMsPerTicket.toFixed(3)} ms database CPU per ticket`);
    return {
      source: cluster.source, version, tickets: p.tickets, warmup: p.warmup, connections: p.connections, reps: p.reps,
      sqliteRuns: sqlite, postgresRuns: postgres, sqlitePerSec: median(sqlite), postgresPerSec: pgPerSec, ratio: pgPerSec / median(sqlite),
      commitsPerTicket: median(commits), pgCpuMsPerTicket: median(cpuMs), store, cores: navigator.hardwareConcurrency,
      withRecipientLimit: { limitPerHour: RATE_ROOM, runs: limited.runs, perSec: median(limited.runs), commitsPerTicket: median(limited.commits), pgCpuMsPerTicket: median(limited.cpuMs) },
    };
  } finally {
    await sink.stop();
    await dropDatabase(env, url).catch(() => {});
  }
}

async function dbQuery(url: string, query: string): Promise<unknown[]> {
  const sql = new SQL({ url, database: new URL(url).pathname.slice(1), max: 1 });
  try {
    return (await sql.unsafe(query)) as unknown[];
  } finally {
    await sql.close();
  }
}
