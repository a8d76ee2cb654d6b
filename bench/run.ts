// `bun run bench` (options in BENCH_COMMAND below; docs/benchmarks.md "Benchmarks").
// Measures Mailer against the fastest thing that could do the same work on this machine, in
// the same run, and writes BENCHMARKS.md (figures, machine, method). See bench/report.ts for
// the layout and the method text; each measured party runs in a process of its own (proc.ts).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { POOL_MAX_MESSAGES } from "../lib/server/smtp";
import { runCommand, type CommandLine, type CommandSpec } from "../lib/shared/args";
import { MailerError } from "../lib/shared/errors";
import { onStopSignals } from "../lib/shared/shutdown";
import { sendOne } from "./load";
import { freePort } from "../tests/helpers/kit";
import { BUN, REPO, benchEnv, cpuSeconds, procMemory, runHelper, sampleMemory, spawnChild, stopAll, type Child } from "./proc";
import { renderReport, targets, type Capacity, type ClientStart, type CollectorSize, type EndToEnd, type LightLoad, type Results, type ServerLevel, type StartupRun } from "./report";
import { writeLargeLog } from "../tests/helpers/large-log";
import { median, summarize } from "./stats";
import { POSTGRES_PARAMS, postgresSection } from "./postgres-section";

const SECTIONS = ["server", "capacity", "collector", "store", "client", "e2e", "postgres"] as const;

const BENCH_COMMAND: CommandSpec = {
  program: "bench/run.ts",
  usage: `Usage: bun bench/run.ts [--quick] [--only SECTIONS] [--out FILE] [--dovecot]    (bun run bench)
       bun bench/run.ts --render bench/results/full-….json [--out FILE]

Measures Mailer against the fastest thing that could do the same work on this machine, in the
same run, and writes BENCHMARKS.md (figures, machine, method) and bench/results/*.json.
Section postgres uses the stack of PGSTACK_ENV_FILE when set, else a throwaway cluster of its
own (scripts/pgstack.sh, as root), else is skipped.

Options:
      --quick          fewer and smaller runs (minutes instead of an hour)
      --only SECTIONS  comma-separated, of ${SECTIONS.join(",")} (default: all)
      --out FILE       the report to write (default BENCHMARKS.md)
      --dovecot        include the Dovecot collector runs in quick mode too (the full run always tries them)
      --render FILE    rewrite the report from a saved run with the current bench/FINDINGS.md, measuring nothing
  -h, --help           this text
      --version        the version`,
  options: {
    quick: { type: "boolean" },
    only: { type: "string" },
    out: { type: "string" },
    dovecot: { type: "boolean" },
    render: { type: "string" },
  },
};

function params(quick: boolean, dovecot: boolean) {
  return quick
    ? { serverTickets: 1000, warmup: 100, serverReps: 1, levels: [50, 200], light: 5, lightTickets: 300, idleConnections: 10_000, probes: 20,
        collectorSizes: [1000], collectorReps: 1, largeLog: 100_000, startupRuns: 3, storeTickets: 5000, clientRuns: 5, e2eSamples: 3, dovecot }
    : { serverTickets: 10_000, warmup: 200, serverReps: 3, levels: [50, 200], light: 5, lightTickets: 2000, idleConnections: 10_000, probes: 50,
        collectorSizes: [1000, 10_000], collectorReps: 3, largeLog: 1_000_000, startupRuns: 5, storeTickets: 20_000, clientRuns: 20, e2eSamples: 10, dovecot: true };
}

const LOGIN = "admin@mailer.test";
const PASSWORD = "bench-password";
const POOL_SIZE = 5;
/** the server's pool setting, so the SMTP limit is measured with the same connection renewal */
const MAX_MESSAGES = POOL_MAX_MESSAGES;

const MB = 1024 * 1024;
const started = performance.now();
// Set once by main() from the command line, before anything is measured.
let QUICK = false;
let P = params(false, true);
let only = new Set<string>(SECTIONS);
let scratch = "";

function log(message: string) {
  const t = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  console.log(`[${t}s] ${message}`);
}

function freshDir(name: string): string {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  mkdirSync(join(dir, "logs"), { recursive: true });
  mkdirSync(join(dir, "state"), { recursive: true });
  return dir;
}

/** Resolves once something accepts TCP connections on the port; fails if `child` exits first. */
async function waitForPort(port: number, child: Child, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode) {
      await child.exited;
      throw new Error(`${what} exited (${child.proc.exitCode ?? child.proc.signalCode}) before listening on ${port}; output:\n${child.output().slice(-3000)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      Bun.connect({ hostname: "127.0.0.1", port, socket: { open(s) { s.end(); resolve(true); }, data() {}, error() { resolve(false); }, connectError() { resolve(false); } } })
        .catch(() => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms; output:\n${child.output().slice(-3000)}`);
    await Bun.sleep(50);
  }
}

/** `defaults`: smtp-server with its default settings (greeting pause, reverse lookup), see bench/sink.ts. */
async function startSink(o: { defaults?: boolean } = {}): Promise<{ sink: Child; port: number }> {
  const sink = spawnChild([BUN, "bench/sink.ts"], { env: benchEnv({ SINK_LOGIN: LOGIN, SINK_PASSWORD: PASSWORD, ...(o.defaults ? { SINK_DEFAULTS: "1" } : {}) }) });
  const { port } = await sink.waitFor("ready");
  return { sink, port };
}

/** Asks the sink for its count (SIGUSR2) until it reaches `expected` or `timeoutMs` passes. */
async function sinkCount(sink: Child, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let got = 0;
  for (;;) {
    const from = sink.messages.length;
    sink.proc.kill("SIGUSR2");
    got = (await sink.waitFor("count", 5_000, from)).messages;
    if (got >= expected || Date.now() > deadline) return got;
    await Bun.sleep(100);
  }
}

function serverEnv(dir: string, smtpPort: number, serverPort: number, extra: Record<string, string> = {}) {
  return benchEnv({
    EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, ADMIN_EMAIL: LOGIN,
    SMTP_HOST: "127.0.0.1", SMTP_PORT: String(smtpPort),
    SERVER_HOST: "127.0.0.1", SERVER_PORT: String(serverPort),
    STATE_DIR: join(dir, "state"), LOG_DIR: join(dir, "logs"),
    RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0", MAX_CONNECTIONS_PER_IP: "0", SMTP_POOL_SIZE: String(POOL_SIZE),
    ...extra,
  });
}

async function startServer(dir: string, smtpPort: number, extra: Record<string, string> = {}, nofile?: number) {
  const port = freePort();
  const server = spawnChild([BUN, "--no-env-file", "server.ts"], { env: serverEnv(dir, smtpPort, port, extra), nofile });
  await waitForPort(port, server, "server.ts");
  return { server, port };
}

// ---------------------------------------------------------------------------------------------
// 1. Server throughput and latency

async function serverRun(connections: number, tickets: number, sinkOptions: { defaults?: boolean } = {}) {
  const dir = freshDir(`server-${connections}`);
  const { sink, port: sinkPort } = await startSink(sinkOptions);
  const { server, port } = await startServer(dir, sinkPort);
  const mem = sampleMemory(server.pid, 100);
  const load = await runHelper([BUN, "bench/load.ts", "closed", "--port", String(port), "--connections", String(connections), "--total", String(tickets), "--warmup", String(P.warmup)], { timeoutMs: 600_000 });
  const r = load.result;
  const expected = 2 * (r.ok + r.warmupOk);
  const sinkMessages = await sinkCount(sink, expected, 10_000);
  const peak = mem.stop();
  await server.stop("SIGTERM", 10_000);
  await sink.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    ticketsPerSec: r.perSecond as number,
    latency: summarize(r.latencies),
    errors: { ...r.errors, ...Object.fromEntries(Object.entries(r.warmupErrors as Record<string, number>).map(([k, v]) => [`warmup ${k}`, v])) },
    sinkMessages,
    expectedMessages: expected,
    serverPeakRssMB: Math.max(peak, server.proc.resourceUsage()?.maxRSS ?? 0) / MB,
    serverCpuSec: cpuSeconds(server.proc),
  };
}

async function limitRun(connections: number, tickets: number) {
  const { sink, port } = await startSink();
  const r = await runHelper([BUN, "bench/limit-smtp.ts"], {
    env: benchEnv({ SINK_PORT: String(port), COUNT: String(tickets * 2), INFLIGHT: String(connections * 2), POOL_SIZE: String(POOL_SIZE), MAX_MESSAGES: String(MAX_MESSAGES), LOGIN, PASSWORD, ADMIN: LOGIN }),
    timeoutMs: 600_000,
  });
  await sink.stop();
  if (r.result.failed) throw new Error(`limit-smtp: ${r.result.failed} messages failed`);
  return { messagesPerSec: r.result.perSecond as number, messages: r.result.messages as number, cpuSec: r.cpuSec };
}

async function serverSection(): Promise<Results["server"]> {
  if (!existsSync(join(REPO, "server.ts"))) return { skipped: "server.ts is not in this checkout yet" };
  const levels: ServerLevel[] = [];
  for (const connections of P.levels) {
    const runs: ServerLevel["runs"] = [];
    const limitRuns: ServerLevel["limitRuns"] = [];
    for (let rep = 0; rep < P.serverReps; rep++) {
      const s = await serverRun(connections, P.serverTickets);
      runs.push(s);
      log(`server ${connections} conn rep ${rep + 1}: ${s.ticketsPerSec.toFixed(0)} tickets/s, p50 ${s.latency.p50.toFixed(1)} ms, p99 ${s.latency.p99.toFixed(1)} ms, sink ${s.sinkMessages}/${s.expectedMessages}, errors ${JSON.stringify(s.errors)}`);
      const l = await limitRun(connections, P.serverTickets);
      limitRuns.push(l);
      log(`limit  ${connections} conn rep ${rep + 1}: ${l.messagesPerSec.toFixed(0)} messages/s`);
    }
    const tps = median(runs.map((x) => x.ticketsPerSec));
    const lim = median(limitRuns.map((x) => x.messagesPerSec));
    levels.push({
      connections, tickets: P.serverTickets, reps: P.serverReps, ticketsPerSec: tps, limitMessagesPerSec: lim, ratio: (tps * 2) / lim,
      p50: median(runs.map((x) => x.latency.p50)), p99: median(runs.map((x) => x.latency.p99)), runs, limitRuns,
    });
  }
  const lightRuns = [];
  for (let rep = 0; rep < P.serverReps; rep++) {
    // smtp-server with its default settings: a new connection costs ~100 ms there, so p99 shows
    // whether any request waits for one (the pool renews connections in the background)
    const s = await serverRun(P.light, P.lightTickets, { defaults: true });
    lightRuns.push(s);
    log(`server ${P.light} conn rep ${rep + 1}: ${s.ticketsPerSec.toFixed(0)} tickets/s, p50 ${s.latency.p50.toFixed(1)} ms, p99 ${s.latency.p99.toFixed(1)} ms`);
  }
  const light: LightLoad = {
    connections: P.light, tickets: P.lightTickets, reps: P.serverReps,
    p50: median(lightRuns.map((x) => x.latency.p50)), p99: median(lightRuns.map((x) => x.latency.p99)), max: Math.max(...lightRuns.map((x) => x.latency.max)),
    ticketsPerSec: median(lightRuns.map((x) => x.ticketsPerSec)), runs: lightRuns,
  };
  return { levels, light };
}

// ---------------------------------------------------------------------------------------------
// 2. Connection capacity

async function capacitySection(): Promise<Results["capacity"]> {
  if (!existsSync(join(REPO, "server.ts"))) return { skipped: "server.ts is not in this checkout yet" };
  const N = P.idleConnections;
  const dir = freshDir("capacity");
  const { sink, port: sinkPort } = await startSink();
  const { server, port } = await startServer(dir, sinkPort, { IDLE_TIMEOUT: "3600", MAX_CONNECTIONS: String(N + 100) }, N + 1000);
  try {
    // one ticket first, so the baseline includes a warm SMTP pool
    await sendOne({ port, line: JSON.stringify({ email: "warm@bench.example", message: "warm-up" }) + "\n" });
    await Bun.sleep(300);
    const baseline = procMemory(server.pid)?.rss ?? NaN;
    const baselineFds = openFds(server.pid);
    const holder = spawnChild([BUN, "bench/load.ts", "idle", "--port", String(port), "--count", String(N)], { nofile: N + 1000 });
    const opened = await holder.waitFor("ready", 120_000);
    // let the server finish accepting and settle: RSS changes < 1% over 500 ms
    let rss = procMemory(server.pid)?.rss ?? NaN;
    for (let i = 0; i < 20; i++) {
      await Bun.sleep(500);
      const now = procMemory(server.pid)?.rss ?? NaN;
      const settled = Math.abs(now - rss) < rss * 0.01;
      rss = now;
      if (settled) break;
    }
    const serverSockets = openFds(server.pid) - baselineFds;
    const probe = await runHelper([BUN, "bench/load.ts", "closed", "--port", String(port), "--connections", "1", "--total", String(P.probes)]);
    const after = holder.messages.length;
    holder.proc.kill("SIGUSR2");
    const status = await holder.waitFor("status", 10_000, after);
    await holder.stop();
    const result: Capacity = {
      target: N, opened: opened.opened, closedByServer: status.closed, errors: opened.errors,
      baselineRssMB: baseline / MB, rssMB: rss / MB, probe: summarize(probe.result.latencies), probeErrors: probe.result.errors,
      stillOpenAfterProbe: status.opened - status.closed, serverSockets,
    };
    log(`capacity: ${result.opened} opened, server holds ${serverSockets} more fds, ${result.closedByServer} closed by server, RSS ${result.baselineRssMB.toFixed(0)} → ${result.rssMB.toFixed(0)} MB, probe p50 ${result.probe.p50.toFixed(1)} / p99 ${result.probe.p99.toFixed(1)} ms`);
    return result;
  } finally {
    await server.stop();
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Collector ingest

interface ImapTarget { backend: string; host: string; port: number; login: string; password: string; secure: "plain" | "starttls" | "tls"; caFile?: string }

/** Open file descriptors of a process: the sockets a server has really accepted show up here. */
function openFds(pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; }
}

function countLines(path: string): number {
  if (!existsSync(path)) return 0;
  const text = readFileSync(path, "utf8");
  return text ? text.split("\n").filter((l) => l.trim()).length : 0;
}

async function collectorRun(t: ImapTarget, expected: number) {
  const dir = freshDir("collector");
  const env = benchEnv({
    EMAIL_LOGIN: t.login, EMAIL_PASSWORD: t.password, IMAP_HOST: t.host, IMAP_PORT: String(t.port), PERIOD_CHECK: "60",
    LOG_DIR: join(dir, "logs"), STATE_DIR: join(dir, "state"),
    ...(t.secure === "plain" ? {} : { IMAP_SECURE: t.secure }), ...(t.caFile ? { TLS_CA_FILE: t.caFile } : {}),
  });
  const t0 = performance.now();
  const child = spawnChild([BUN, "--no-env-file", "collector.ts", "--once", "--all"], { env });
  const mem = sampleMemory(child.pid, 25);
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), 600_000);
  const code = await child.exited;
  clearTimeout(timer);
  const wallMs = performance.now() - t0;
  const peak = Math.max(mem.stop(), child.proc.resourceUsage()?.maxRSS ?? 0);
  const success = countLines(join(dir, "logs", "success_request.log"));
  const error = countLines(join(dir, "logs", "error_request.log"));
  if (code !== 0) throw new Error(`collector.ts --once --all exited ${code}; output:\n${child.output().slice(-3000)}`);
  if (success + error !== expected) log(`WARNING collector logged ${success} + ${error} entries for ${expected} messages`);
  rmSync(dir, { recursive: true, force: true });
  return { wallMs, peak, success, error, cpuSec: cpuSeconds(child.proc) };
}

async function imapLimit(t: ImapTarget, mode: "fetch" | "parse", expected: number) {
  const r = await runHelper([BUN, "bench/limit-imap.ts"], {
    env: benchEnv({ MODE: mode, IMAP_HOST: t.host, IMAP_PORT: String(t.port), LOGIN: t.login, PASSWORD: t.password, IMAP_SECURE: t.secure, ...(t.caFile ? { TLS_CA_FILE: t.caFile } : {}) }),
    timeoutMs: 600_000,
  });
  if (r.result.messages !== expected) throw new Error(`limit-imap ${mode}: fetched ${r.result.messages} of ${expected}`);
  return { wallMs: r.wallMs, peak: r.peakRss, cpuSec: r.cpuSec };
}

async function measureCollector(t: ImapTarget, messages: number, bytes: number): Promise<CollectorSize> {
  const c: Awaited<ReturnType<typeof collectorRun>>[] = [];
  const f: Awaited<ReturnType<typeof imapLimit>>[] = [];
  const p: Awaited<ReturnType<typeof imapLimit>>[] = [];
  for (let rep = 0; rep < P.collectorReps; rep++) {
    c.push(await collectorRun(t, messages));
    f.push(await imapLimit(t, "fetch", messages));
    p.push(await imapLimit(t, "parse", messages));
    log(`collector ${t.backend} ${messages} rep ${rep + 1}: collector ${c.at(-1)!.wallMs.toFixed(0)} ms (${(c.at(-1)!.peak / MB).toFixed(0)} MB), fetch ${f.at(-1)!.wallMs.toFixed(0)} ms, naive ${p.at(-1)!.wallMs.toFixed(0)} ms`);
  }
  const rate = (xs: { wallMs: number }[]) => median(xs.map((x) => (messages / x.wallMs) * 1000));
  const collectorPerSec = rate(c);
  const fetchPerSec = rate(f);
  const parsePerSec = rate(p);
  return {
    backend: t.backend, messages, bytes, reps: P.collectorReps,
    collectorPerSec, fetchPerSec, parsePerSec,
    collectorPeakRssMB: median(c.map((x) => x.peak)) / MB, fetchPeakRssMB: median(f.map((x) => x.peak)) / MB, parsePeakRssMB: median(p.map((x) => x.peak)) / MB,
    ratioFetch: collectorPerSec / fetchPerSec, ratioParse: collectorPerSec / parsePerSec,
    logged: { success: c.at(-1)!.success, error: c.at(-1)!.error },
    collectorCpuSec: median(c.map((x) => x.cpuSec)), parseCpuSec: median(p.map((x) => x.cpuSec)),
    collectorWallMs: c.map((x) => x.wallMs), fetchWallMs: f.map((x) => x.wallMs), parseWallMs: p.map((x) => x.wallMs),
  };
}

async function collectorSection(): Promise<Results["collector"]> {
  if (!existsSync(join(REPO, "collector.ts"))) return { skipped: "collector.ts is not in this checkout yet" };
  const sizes: CollectorSize[] = [];
  for (const count of P.collectorSizes) {
    const host = spawnChild([BUN, "bench/imap-host.ts"], { env: benchEnv({ COUNT: String(count), SEED: "1", LOGIN, PASSWORD }) });
    try {
      const ready = await host.waitFor("ready", 120_000);
      sizes.push(await measureCollector({ backend: "sandbox IMAP", host: "127.0.0.1", port: ready.port, login: LOGIN, password: PASSWORD, secure: "plain" }, count, ready.bytes));
    } finally {
      await host.stop();
    }
  }
  let dovecot: string | null = null;
  if (!P.dovecot) dovecot = "not run in quick mode.";
  else {
    try {
      dovecot = await dovecotRuns(sizes);
    } catch (err) {
      const e = err as Error & { responseText?: string; serverResponseCode?: string; code?: string };
      const detail = [e.code, e.serverResponseCode, e.responseText].filter(Boolean).join(" ");
      dovecot = `not measured: ${e.message.split("\n")[0]}${detail ? ` (${detail})` : ""}`;
      console.error(e.stack);
      log(`dovecot: ${dovecot}`);
    }
  }
  return { sizes, dovecot };
}

/** A private Postfix+Dovecot stack (scripts/mailstack.sh) on its own ports, so that no other test's mailbox is touched. */
async function dovecotRuns(sizes: CollectorSize[]): Promise<string> {
  if (!existsSync("/usr/sbin/dovecot") || !existsSync("/usr/sbin/postfix")) return "not measured: Dovecot/Postfix are not installed (`bash scripts/mailstack.sh install`).";
  const dir = "/tmp/mailer-bench-stack";
  const ports = { MAILSTACK_SMTP_PORT: freePort(), MAILSTACK_IMAP_PORT: freePort(), MAILSTACK_IMAPS_PORT: freePort(), MAILSTACK_LMTP_PORT: freePort() };
  const env = benchEnv(Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])));
  const script = join(REPO, "scripts/mailstack.sh");
  const start = Bun.spawnSync(["bash", script, "start", dir], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  if (start.exitCode !== 0) throw new Error(`mailstack.sh start failed: ${start.stderr.toString().trim().split("\n").at(-1)}`);
  try {
    const { mailstackEnv } = await import("../tests/helpers/mailstack");
    const saved = process.env.MAILSTACK_ENV_FILE;
    process.env.MAILSTACK_ENV_FILE = join(dir, "stack.env");
    const stack = mailstackEnv();
    if (saved === undefined) delete process.env.MAILSTACK_ENV_FILE; else process.env.MAILSTACK_ENV_FILE = saved;
    if (!stack) throw new Error(`mailstack.sh start wrote no ${dir}/stack.env`);
    const target: ImapTarget = {
      backend: "Dovecot (STARTTLS)", host: stack.imapHost, port: stack.imapPort,
      login: stack.admin, password: stack.adminPassword, secure: "starttls", caFile: stack.caFile,
    };
    let have = 0;
    for (const count of P.collectorSizes) {
      const t0 = performance.now();
      const bytes = await appendToImap(target, have, count);
      log(`dovecot: appended ${count - have} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      have = count;
      sizes.push(await measureCollector(target, count, bytes));
    }
    return "measured against a private stack started by `scripts/mailstack.sh start` on free ports (messages appended with imapflow APPEND).";
  } finally {
    Bun.spawnSync(["bash", script, "stop", dir], { env, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Appends generated messages [from, to) (the same seed as the sandbox backlog); returns the bytes of all `to`. */
async function appendToImap(t: ImapTarget, from: number, to: number): Promise<number> {
  const { ImapFlow } = await import("imapflow");
  const { loadCa, tlsOptions } = await import("../lib/shared/tls");
  const { generateMessages } = await import("./messages");
  const connect = async () => {
    const c = new ImapFlow({
      host: t.host, port: t.port, secure: t.secure === "tls", doSTARTTLS: t.secure === "starttls",
      tls: tlsOptions(t.host, loadCa(t.caFile ?? null)) as any, auth: { user: t.login, pass: t.password }, logger: false,
    });
    await c.connect();
    return c;
  };
  // a just-started Dovecot may refuse the first login for a moment; an ImapFlow cannot be reused
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  for (let attempt = 1; !client; attempt++) {
    try {
      client = await connect();
    } catch (err) {
      if (attempt >= 5) throw err;
      await Bun.sleep(500 * attempt);
    }
  }
  const all = generateMessages(to, 1);
  try {
    const batch = 50; // imapflow pipelines concurrent APPENDs
    for (let i = from; i < to; i += batch) {
      await Promise.all(all.slice(i, Math.min(to, i + batch)).map((m) => client.append("INBOX", m.raw)));
    }
  } finally {
    await client.logout();
  }
  return all.reduce((n, m) => n + m.raw.length, 0);
}

// ---------------------------------------------------------------------------------------------
// 4. The store: group commit, and the collector's start-up with a very large log

/** `collector.ts --once` against an IMAP host with nothing new: wall time (spawn to exit) and peak RSS. */
async function quietStart(env: Record<string, string>): Promise<{ wallMs: number; peakMB: number; output: string }> {
  const t0 = performance.now();
  const child = spawnChild([BUN, "--no-env-file", "collector.ts", "--once"], { env });
  const mem = sampleMemory(child.pid, 5);
  const code = await child.exited;
  const wallMs = performance.now() - t0;
  // the sampled VmHWM only: ru_maxrss of an exited child can report an earlier, larger child
  const peakMB = mem.stop() / MB;
  if (code !== 0) throw new Error(`collector.ts --once exited ${code}: ${child.output().slice(-2000)}`);
  return { wallMs, peakMB, output: child.output() };
}

async function startupWith(entries: number, port: number): Promise<StartupRun> {
  const dir = freshDir(`startup-${entries}`);
  const env = benchEnv({ EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: join(dir, "logs"), STATE_DIR: join(dir, "state") });
  if (entries > 0) writeLargeLog(join(dir, "logs"), entries, 1);
  const first = await quietStart(env); // indexes the whole log once (the first start after an upgrade) and takes the host's message
  const runs: { wallMs: number; peakMB: number }[] = [];
  for (let i = 0; i < P.startupRuns; i++) {
    const r = await quietStart(env);
    if (!r.output.includes("Nothing new")) throw new Error(`expected "Nothing new", got: ${r.output.slice(-500)}`);
    runs.push(r);
  }
  rmSync(dir, { recursive: true, force: true });
  return { entries, firstMs: first.wallMs, firstPeakMB: first.peakMB, wallMs: median(runs.map((r) => r.wallMs)), peakMB: median(runs.map((r) => r.peakMB)), allMs: runs.map((r) => r.wallMs) };
}

async function storeSection(): Promise<Results["store"]> {
  const commits = await runHelper([BUN, "bench/store-commits.ts"], { env: benchEnv({ COUNT: String(P.storeTickets), CALLERS: "50" }), timeoutMs: 300_000 });
  const c = commits.result as { groupedPerSec: number; singlePerSec: number; callers: number; count: number };
  log(`store: ${c.groupedPerSec.toFixed(0)} tickets/s grouped (${c.callers} callers) vs ${c.singlePerSec.toFixed(0)}/s one commit each`);
  const host = spawnChild([BUN, "bench/imap-host.ts"], { env: benchEnv({ COUNT: "1", SEED: "1", LOGIN, PASSWORD }) });
  try {
    const ready = await host.waitFor("ready", 120_000);
    const empty = await startupWith(0, ready.port);
    const large = await startupWith(P.largeLog, ready.port);
    log(`collector start to "Nothing new": ${large.wallMs.toFixed(0)} ms with ${large.entries} entries, ${empty.wallMs.toFixed(0)} ms with none; peak ${large.peakMB.toFixed(0)} MB; first (indexing) ${large.firstMs.toFixed(0)} ms, ${large.firstPeakMB.toFixed(0)} MB`);
    return { commits: { ...c, ratio: c.groupedPerSec / c.singlePerSec }, startup: { empty, large, ratio: large.wallMs / empty.wallMs } };
  } finally {
    await host.stop();
  }
}

// 5. Client start

async function wallOf(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { cwd: REPO, env: benchEnv(), stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const code = await p.exited;
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${(await new Response(p.stderr).text()).slice(-500)}`);
  return ms;
}

async function clientSection(): Promise<Results["client"]> {
  if (!existsSync(join(REPO, "client.ts"))) return { skipped: "client.ts is not in this checkout yet" };
  const oneLine = join(scratch, "one-line.ts");
  writeFileSync(oneLine, "console.log(1);\n");
  const client = [BUN, "client.ts", "--help"];
  const base = [BUN, oneLine];
  await wallOf(client);
  await wallOf(base);
  const c: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < P.clientRuns; i++) {
    c.push(await wallOf(client));
    b.push(await wallOf(base));
  }
  const r: ClientStart = { runs: P.clientRuns, clientMs: median(c), baselineMs: median(b), ratio: median(c) / median(b), clientAll: c, baselineAll: b };
  log(`client start: ${r.clientMs.toFixed(1)} ms vs ${r.baselineMs.toFixed(1)} ms → ${r.ratio.toFixed(2)}×`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// 6. End to end

async function waitForTicket(logFile: string, ticket: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const needle = `"ticket":"${ticket}"`;
  for (;;) {
    const f = Bun.file(logFile);
    if ((await f.exists()) && (await f.text()).includes(needle)) return performance.now();
    if (performance.now() > deadline) throw new Error(`ticket ${ticket} not in ${logFile} within ${timeoutMs} ms`);
    await Bun.sleep(2);
  }
}

async function e2eMode(mode: "IDLE" | "polling"): Promise<EndToEnd> {
  const dir = freshDir(`e2e-${mode}`);
  const periodCheck = mode === "IDLE" ? 60 : 1;
  const sandbox = spawnChild([BUN, "bench/sandbox-host.ts"], { env: benchEnv({ LOGIN, PASSWORD, ADMIN: LOGIN, IDLE: mode === "IDLE" ? "1" : "0" }) });
  let server: Child | undefined;
  let collector: Child | undefined;
  try {
    const ready = await sandbox.waitFor("ready");
    const s = await startServer(dir, ready.smtpPort, { RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0" });
    server = s.server;
    collector = spawnChild([BUN, "--no-env-file", "collector.ts"], {
      env: benchEnv({
        EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(ready.imapPort), PERIOD_CHECK: String(periodCheck),
        LOG_DIR: join(dir, "logs"), STATE_DIR: join(dir, "state"),
      }),
    });
    const logFile = join(dir, "logs", "success_request.log");
    const one = async () => {
      const { reply, repliedAt } = await sendOne({ port: s.port, line: JSON.stringify({ email: "e2e@bench.example", message: `end-to-end ${mode} ${Date.now()}` }) + "\n" });
      if (reply.status !== "OK") throw new Error(`server refused the e2e ticket: ${JSON.stringify(reply)}`);
      const found = await waitForTicket(logFile, String(reply.ticket), 30_000);
      return found - repliedAt;
    };
    await one(); // warm-up: collector connected, pool open
    const samples: number[] = [];
    for (let i = 0; i < P.e2eSamples; i++) {
      // polling: a pause spread over a whole period, or each sample would start at the same phase of it
      await Bun.sleep(mode === "IDLE" ? 50 + Math.random() * 200 : Math.random() * periodCheck * 1000);
      samples.push(await one());
    }
    log(`e2e ${mode}: ${samples.map((x) => x.toFixed(0)).join(", ")} ms`);
    return { mode, periodCheck, samples, p50: median(samples), max: Math.max(...samples) };
  } finally {
    await collector?.stop();
    await server?.stop();
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function e2eSection(): Promise<Results["e2e"]> {
  for (const f of ["server.ts", "collector.ts"]) if (!existsSync(join(REPO, f))) return { skipped: `${f} is not in this checkout yet` };
  return { modes: [await e2eMode("IDLE"), await e2eMode("polling")] };
}

// ---------------------------------------------------------------------------------------------

function machine(): Results["machine"] {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const nproc = Number(Bun.spawnSync(["nproc"]).stdout.toString().trim()) || cpus().length;
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO }).stdout.toString().trim() || "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: REPO }).stdout.toString().trim() ? " (with uncommitted changes)" : "";
  const nofile = Bun.spawnSync(["bash", "-c", "ulimit -n"]).stdout.toString().trim();
  // STATE_DIR/LOG_DIR live here: fsync costs depend on it (tmpfs makes fsync free)
  const fs = Bun.spawnSync(["df", "-T", scratch]).stdout.toString().trim().split("\n").at(-1)?.split(/\s+/) ?? [];
  const tempFs = fs.length >= 2 ? `${tmpdir()} on ${fs[1]} (${fs[0]})` : tmpdir();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"), commit: commit + dirty, nproc, memoryGiB: totalmem() / 1024 ** 3, cpuModel: model,
    bun: Bun.version, kernel: release(), loadBefore: loadavg(), loadAfter: [], ulimitNofile: nofile, tempFs,
  };
}

async function section<T>(name: (typeof SECTIONS)[number], run: () => Promise<T>): Promise<T | { skipped: string } | undefined> {
  if (!only.has(name)) return undefined;
  log(`— ${name}`);
  try {
    return await run();
  } catch (err) {
    const message = (err as Error).stack ?? String(err);
    log(`${name} FAILED: ${message}`);
    return { skipped: `failed: ${(err as Error).message.split("\n")[0]}` };
  }
}

/** --render FILE: the report again from a saved run, with the current bench/FINDINGS.md. */
function render(saved: string, out: string): number {
  const results = JSON.parse(readFileSync(saved, "utf8")) as Results;
  const findings = join(import.meta.dir, "FINDINGS.md");
  results.findings = existsSync(findings) ? readFileSync(findings, "utf8") : undefined;
  writeFileSync(out, renderReport(results));
  console.log(`wrote ${out} from ${saved}`);
  return 0;
}

async function measure(out: string): Promise<number> {
  scratch = mkdtempSync(join(tmpdir(), "mailer-bench-"));
  const removeHandlers = onStopSignals({
    stop: async () => { await stopAll(); rmSync(scratch, { recursive: true, force: true }); process.exit(130); },
    exit: (code) => process.exit(code),
    log: (line) => console.error(`bench: ${line}`),
  });
  const results: Results = { quick: QUICK, machine: machine(), durationSec: 0, params: { ...P, poolSize: POOL_SIZE, maxMessages: MAX_MESSAGES } };
  log(`${QUICK ? "quick" : "full"} run on ${results.machine.nproc} cores, Bun ${results.machine.bun}, load ${results.machine.loadBefore.map((x) => x.toFixed(2)).join(" ")}`);
  results.server = (await section("server", serverSection)) as Results["server"];
  results.capacity = (await section("capacity", capacitySection)) as Results["capacity"];
  results.collector = (await section("collector", collectorSection)) as Results["collector"];
  results.store = (await section("store", storeSection)) as Results["store"];
  results.client = (await section("client", clientSection)) as Results["client"];
  results.e2e = (await section("e2e", e2eSection)) as Results["e2e"];
  results.postgres = (await section("postgres", () => postgresSection(QUICK ? POSTGRES_PARAMS.quick : POSTGRES_PARAMS.full, log))) as Results["postgres"];
  await stopAll();
  removeHandlers();
  results.machine.loadAfter = loadavg();
  results.durationSec = (performance.now() - started) / 1000;
  const findingsFile = join(import.meta.dir, "FINDINGS.md");
  if (existsSync(findingsFile)) results.findings = readFileSync(findingsFile, "utf8");
  mkdirSync(join(import.meta.dir, "results"), { recursive: true });
  writeFileSync(join(import.meta.dir, "results", `${QUICK ? "quick" : "full"}-${results.machine.date.replace(/[:]/g, "")}.json`), JSON.stringify(results, null, 1));
  writeFileSync(out, renderReport(results));
  rmSync(scratch, { recursive: true, force: true });
  console.log();
  for (const t of targets(results)) console.log(`${t.verdict.padEnd(4)}  ${t.what}: ${t.figure} (target ${t.target})`);
  log(`wrote ${out} (${results.durationSec.toFixed(0)} s)`);
  return 0;
}

async function main(line: CommandLine): Promise<number> {
  const v = line.values;
  const out = typeof v.out === "string" ? v.out : join(REPO, "BENCHMARKS.md");
  if (typeof v.render === "string") return render(v.render, out);
  const sections = typeof v.only === "string" ? v.only.split(",") : [...SECTIONS];
  for (const name of sections) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new MailerError("usage", `--only: unknown section "${name}" — use ${SECTIONS.join(",")}`);
  }
  QUICK = v.quick === true;
  P = params(QUICK, v.dovecot === true);
  only = new Set(sections);
  return measure(out);
}

process.exit(await runCommand(BENCH_COMMAND, Bun.argv.slice(2), main));
