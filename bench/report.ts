// Renders BENCHMARKS.md from the results of one `bun run bench` run. Pure (results in, Markdown
// out) so the layout can be checked without running anything.
import { postgresMethod, postgresTargets, renderPostgres, type PostgresFigures } from "./postgres-report";
import { fmt, pct, verdict, type LatencySummary } from "./stats";

export interface Machine {
  date: string; commit: string; nproc: number; memoryGiB: number; cpuModel: string; bun: string;
  kernel: string; loadBefore: number[]; loadAfter: number[]; ulimitNofile: string;
  /** where STATE_DIR/LOG_DIR were: the filesystem decides what an fsync costs */
  tempFs?: string;
}

export interface ServerLevel {
  connections: number;
  tickets: number;
  reps: number;
  /** medians over reps */
  ticketsPerSec: number; limitMessagesPerSec: number; ratio: number; p50: number; p99: number;
  runs: Array<{ ticketsPerSec: number; latency: LatencySummary; errors: Record<string, number>; sinkMessages: number; expectedMessages: number; serverPeakRssMB: number; serverCpuSec: number }>;
  limitRuns: Array<{ messagesPerSec: number; messages: number; cpuSec?: number }>;
}

export interface LightLoad { connections: number; tickets: number; reps: number; p50: number; p99: number; max: number; ticketsPerSec: number; runs?: ServerLevel["runs"] }

export interface Capacity {
  target: number; opened: number; closedByServer: number; errors: Record<string, number>;
  baselineRssMB: number; rssMB: number; serverSockets: number; probe: LatencySummary; probeErrors: Record<string, number>; stillOpenAfterProbe: number;
}

export interface CollectorSize {
  backend: string; messages: number; bytes: number; reps: number;
  /** medians over reps, messages/s from process start to exit */
  collectorPerSec: number; fetchPerSec: number; parsePerSec: number;
  collectorPeakRssMB: number; fetchPeakRssMB: number; parsePeakRssMB: number;
  ratioFetch: number; ratioParse: number;
  logged: { success: number; error: number };
  /** medians, process CPU (user + system, all threads) */
  collectorCpuSec?: number; parseCpuSec?: number;
  collectorWallMs: number[]; fetchWallMs: number[]; parseWallMs: number[];
}

export interface StartupRun {
  entries: number;
  /** the first start: the whole log indexed once (what an upgrade costs) */
  firstMs: number; firstPeakMB: number;
  /** medians of the later starts to "Nothing new" */
  wallMs: number; peakMB: number; allMs: number[];
}

export interface StoreFigures {
  commits: { count: number; callers: number; groupedPerSec: number; singlePerSec: number; ratio: number };
  startup: { empty: StartupRun; large: StartupRun; ratio: number };
}

export interface ClientStart { runs: number; clientMs: number; baselineMs: number; ratio: number; clientAll: number[]; baselineAll: number[] }

export interface EndToEnd { mode: "IDLE" | "polling"; periodCheck: number; samples: number[]; p50: number; max: number }

export interface Results {
  quick: boolean;
  machine: Machine;
  durationSec: number;
  params: Record<string, unknown>;
  server?: { levels: ServerLevel[]; light: LightLoad } | { skipped: string };
  capacity?: Capacity | { skipped: string };
  collector?: { sizes: CollectorSize[]; dovecot: string | null } | { skipped: string };
  store?: StoreFigures | { skipped: string };
  client?: ClientStart | { skipped: string };
  e2e?: { modes: EndToEnd[] } | { skipped: string };
  postgres?: PostgresFigures | { skipped: string };
  findings?: string;
}

const skipped = (x: unknown): x is { skipped: string } => !!x && typeof x === "object" && "skipped" in x;
const ms = (n: number) => `${fmt(n, n < 10 ? 2 : 1)} ms`;
const mb = (n: number) => `${fmt(n, 0)} MB`;
const codes = (e: Record<string, number>) => Object.keys(e).length ? Object.entries(e).map(([k, v]) => `${k}×${v}`).join(", ") : "none";

/** The headline rows: figure, limit, ratio, target, PASS/MISS. */
export function targets(r: Results): Array<{ what: string; figure: string; target: string; verdict: string }> {
  const rows: Array<{ what: string; figure: string; target: string; verdict: string }> = [];
  if (r.server && !skipped(r.server)) {
    const at50 = r.server.levels.find((l) => l.connections === 50);
    if (at50) rows.push({ what: "Server throughput, 50 connections (messages/s ÷ nodemailer limit)", figure: pct(at50.ratio), target: "≥ 80%", verdict: verdict(Number.isFinite(at50.ratio) ? at50.ratio >= 0.8 : null) });
    rows.push({ what: `Server p99 latency, ${r.server.light.connections} connections`, figure: ms(r.server.light.p99), target: "≤ 25 ms", verdict: verdict(Number.isFinite(r.server.light.p99) ? r.server.light.p99 <= 25 : null) });
  }
  if (r.capacity && !skipped(r.capacity)) {
    const c = r.capacity;
    const all = c.opened === c.target && c.stillOpenAfterProbe === c.target && c.serverSockets >= c.target;
    rows.push({ what: `${c.target.toLocaleString("en-US")} idle connections: server RSS`, figure: `${mb(c.rssMB)}${all ? "" : ` (only ${c.stillOpenAfterProbe} open)`}`, target: "< 200 MB", verdict: verdict(all && c.rssMB < 200) });
    rows.push({ what: "… and a valid request meanwhile (p99 of probes)", figure: ms(c.probe.p99), target: "< 50 ms", verdict: verdict(c.probe.count > 0 ? c.probe.p99 < 50 : false) });
  }
  if (r.collector && !skipped(r.collector)) {
    for (const s of r.collector.sizes) {
      rows.push({ what: `Collector, ${s.messages.toLocaleString("en-US")} messages (${s.backend}): ÷ naive fetch+parse`, figure: pct(s.ratioParse), target: "≥ 100%", verdict: verdict(Number.isFinite(s.ratioParse) ? s.ratioParse >= 1 : null) });
      rows.push({ what: `Collector, ${s.messages.toLocaleString("en-US")} messages (${s.backend}): peak RSS`, figure: mb(s.collectorPeakRssMB), target: "< 150 MB", verdict: verdict(s.collectorPeakRssMB > 0 ? s.collectorPeakRssMB < 150 : null) });
    }
  }
  if (r.store && !skipped(r.store)) {
    const l = r.store.startup.large;
    rows.push({ what: `Collector start to "Nothing new", ${l.entries.toLocaleString("en-US")}-entry log`, figure: `${fmt(l.wallMs / 1000, 2)} s (${fmt(r.store.startup.ratio, 2)}× an empty log's)`, target: "≤ 0.5 s", verdict: verdict(Number.isFinite(l.wallMs) ? l.wallMs <= 500 : null) });
    rows.push({ what: `… its peak RSS`, figure: mb(l.peakMB), target: "≤ 150 MB", verdict: verdict(l.peakMB > 0 ? l.peakMB <= 150 : null) });
  }
  if (r.client && !skipped(r.client)) rows.push({ what: "Client start (`--help`) ÷ one-line script", figure: `${fmt(r.client.ratio, 2)}×`, target: "≤ 2×", verdict: verdict(Number.isFinite(r.client.ratio) ? r.client.ratio <= 2 : null) });
  if (r.e2e && !skipped(r.e2e)) {
    const idle = r.e2e.modes.find((m) => m.mode === "IDLE");
    if (idle) rows.push({ what: "End to end with IDLE (slowest sample)", figure: ms(idle.max), target: "≤ 1 s", verdict: verdict(idle.samples.length ? idle.max <= 1000 : null) });
  }
  if (r.postgres && !skipped(r.postgres)) rows.push(...postgresTargets(r.postgres));
  return rows;
}

export function renderReport(r: Results): string {
  const m = r.machine;
  const out: string[] = [];
  const p = (s = "") => out.push(s);
  p("# Benchmarks");
  p();
  p(`Generated by \`bun run bench${r.quick ? " --quick" : ""}\` (bench/run.ts) on ${m.date}, commit ${m.commit}; the run took ${fmt(r.durationSec, 0)} s.`);
  p();
  if (r.quick) {
    p("**Quick mode**: small counts and single repetitions — a smoke test of the harness, not figures to quote. Run `bun run bench` for the real ones.");
    p();
  }
  p("Every headline figure is a ratio against a limit measured on the same machine in the same run, or an absolute target from the issue; timings on a shared machine move from run to run, ratios much less.");
  p();
  p("## Machine");
  p();
  p("| | |");
  p("|---|---|");
  p(`| CPU | ${m.cpuModel}, ${m.nproc} cores (nproc) |`);
  p(`| memory | ${fmt(m.memoryGiB, 1)} GiB |`);
  p(`| Bun | ${m.bun} |`);
  p(`| kernel | ${m.kernel} |`);
  p(`| open-file limit | ${m.ulimitNofile} |`);
  if (m.tempFs) p(`| STATE_DIR / LOG_DIR (temporary) | ${m.tempFs} — fsync costs depend on this filesystem |`);
  p(`| load average (1/5/15 min) | before ${m.loadBefore.map((x) => x.toFixed(2)).join(" / ")}; after ${m.loadAfter.map((x) => x.toFixed(2)).join(" / ")} |`);
  p();
  p("## Results against the targets");
  p();
  p("| what | measured | target | |");
  p("|---|---|---|---|");
  for (const t of targets(r)) p(`| ${t.what} | ${t.figure} | ${t.target} | **${t.verdict}** |`);
  p();

  if (r.server) {
    p("## 1. Server throughput and latency");
    p();
    if (skipped(r.server)) p(`Skipped: ${r.server.skipped}`);
    else {
      const s = r.server;
      p("| client connections | tickets | server tickets/s | server messages/s (×2) | limit messages/s | ratio | p50 | p99 |");
      p("|---|---|---|---|---|---|---|---|");
      for (const l of s.levels) {
        p(`| ${l.connections} | ${l.tickets.toLocaleString("en-US")} × ${l.reps} | ${fmt(l.ticketsPerSec, 0)} | ${fmt(l.ticketsPerSec * 2, 0)} | ${fmt(l.limitMessagesPerSec, 0)} | **${pct(l.ratio)}** | ${ms(l.p50)} | ${ms(l.p99)} |`);
      }
      p(`| ${s.light.connections} (light load) | ${s.light.tickets.toLocaleString("en-US")} × ${s.light.reps} | ${fmt(s.light.ticketsPerSec, 0)} | ${fmt(s.light.ticketsPerSec * 2, 0)} | | | ${ms(s.light.p50)} | ${ms(s.light.p99)} |`);
      p();
      p("**Ratio** = (server tickets/s × 2) ÷ (limit messages/s): each ticket is two SMTP messages (the user's and the admin's copy), so 100% means the ticket server sends mail as fast as nodemailer alone can, with the same pool, into the same sink. Figures are medians over the repetitions; the ratio is the ratio of the medians.");
      p();
      p("Per repetition:");
      p();
      p("| connections | rep | tickets/s | p50 | p99 | max | errors | sink got / expected | server peak RSS | server CPU | limit messages/s | limit CPU |");
      p("|---|---|---|---|---|---|---|---|---|---|---|---|");
      for (const l of s.levels) {
        l.runs.forEach((run, i) => {
          p(`| ${l.connections} | ${i + 1} | ${fmt(run.ticketsPerSec, 0)} | ${ms(run.latency.p50)} | ${ms(run.latency.p99)} | ${ms(run.latency.max)} | ${codes(run.errors)} | ${run.sinkMessages} / ${run.expectedMessages} | ${mb(run.serverPeakRssMB)} | ${fmt(run.serverCpuSec, 1)} s | ${fmt(l.limitRuns[i]?.messagesPerSec ?? NaN, 0)} | ${fmt(l.limitRuns[i]?.cpuSec ?? NaN, 1)} s |`);
        });
      }
      (s.light.runs ?? []).forEach((run, i) => {
        p(`| ${s.light.connections} | ${i + 1} | ${fmt(run.ticketsPerSec, 0)} | ${ms(run.latency.p50)} | ${ms(run.latency.p99)} | ${ms(run.latency.max)} | ${codes(run.errors)} | ${run.sinkMessages} / ${run.expectedMessages} | ${mb(run.serverPeakRssMB)} | ${fmt(run.serverCpuSec, 1)} s | | |`);
      });
      p();
    }
  }

  if (r.capacity) {
    p("## 2. Connection capacity");
    p();
    if (skipped(r.capacity)) p(`Skipped: ${r.capacity.skipped}`);
    else {
      const c = r.capacity;
      p(`| idle connections opened | accepted by the server (its new open fds) | closed by the server | server RSS before → with them open | probe requests | probe p50 / p99 / max | probe errors |`);
      p("|---|---|---|---|---|---|---|");
      p(`| ${c.opened.toLocaleString("en-US")} of ${c.target.toLocaleString("en-US")} (${codes(c.errors)}) | ${c.serverSockets.toLocaleString("en-US")} | ${c.closedByServer} | ${mb(c.baselineRssMB)} → **${mb(c.rssMB)}** | ${c.probe.count} | ${ms(c.probe.p50)} / **${ms(c.probe.p99)}** / ${ms(c.probe.max)} | ${codes(c.probeErrors)} |`);
      p();
      p(`Still open after the probes: ${c.stillOpenAfterProbe.toLocaleString("en-US")}.`);
      p();
    }
  }

  if (r.collector) {
    p("## 3. Collector ingest");
    p();
    if (skipped(r.collector)) p(`Skipped: ${r.collector.skipped}`);
    else {
      p("| backend | messages (size) | collector msg/s | bare fetch msg/s | naive fetch+parse msg/s | ÷ fetch | ÷ naive | collector peak RSS | fetch / naive peak RSS | CPU collector / naive | logged ok / error |");
      p("|---|---|---|---|---|---|---|---|---|---|---|");
      for (const s of r.collector.sizes) {
        p(`| ${s.backend} | ${s.messages.toLocaleString("en-US")} (${fmt(s.bytes / 1048576, 1)} MiB) × ${s.reps} | ${fmt(s.collectorPerSec, 0)} | ${fmt(s.fetchPerSec, 0)} | ${fmt(s.parsePerSec, 0)} | ${pct(s.ratioFetch)} | **${pct(s.ratioParse)}** | **${mb(s.collectorPeakRssMB)}** | ${mb(s.fetchPeakRssMB)} / ${mb(s.parsePeakRssMB)} | ${fmt(s.collectorCpuSec ?? NaN, 1)} / ${fmt(s.parseCpuSec ?? NaN, 1)} s | ${s.logged.success} / ${s.logged.error} |`);
      }
      p();
      p("Wall times per repetition (ms; collector / bare fetch / naive):");
      p();
      for (const s of r.collector.sizes) p(`- ${s.backend}, ${s.messages}: ${s.collectorWallMs.map((x) => fmt(x, 0)).join(", ")} / ${s.fetchWallMs.map((x) => fmt(x, 0)).join(", ")} / ${s.parseWallMs.map((x) => fmt(x, 0)).join(", ")}`);
      p();
      if (r.collector.dovecot) p(`Dovecot: ${r.collector.dovecot}`);
      p();
    }
  }

  if (r.store) {
    p("## 4. The store (SQLite)");
    p();
    if (skipped(r.store)) p(`Skipped: ${r.store.skipped}`);
    else {
      const { commits: c, startup: st } = r.store;
      p(`Group commit: ${c.count.toLocaleString("en-US")} tickets issued through the store by ${c.callers} concurrent callers (number + ledger row + held admin copy, durable) — **${fmt(c.groupedPerSec, 0)} tickets/s** — against the same three writes committed one transaction each with synchronous=FULL: ${fmt(c.singlePerSec, 0)}/s (**${fmt(c.ratio, 1)}×**).`);
      p();
      p("| log | first start (indexes the whole log once) | later starts to \"Nothing new\" (median) | their peak RSS | all later starts (ms) |");
      p("|---|---|---|---|---|");
      for (const s2 of [st.empty, st.large]) p(`| ${s2.entries.toLocaleString("en-US")} entries | ${ms(s2.firstMs)}, ${mb(s2.firstPeakMB)} | **${ms(s2.wallMs)}** | **${mb(s2.peakMB)}** | ${s2.allMs.map((x) => fmt(x, 0)).join(", ")} |`);
      p();
    }
  }

  if (r.client) {
    p("## 5. Client start");
    p();
    if (skipped(r.client)) p(`Skipped: ${r.client.skipped}`);
    else {
      const c = r.client;
      p(`| \`bun client.ts --help\` | \`bun one-line.ts\` (\`console.log(1)\`) | ratio | runs each |`);
      p("|---|---|---|---|");
      p(`| ${ms(c.clientMs)} | ${ms(c.baselineMs)} | **${fmt(c.ratio, 2)}×** | ${c.runs} |`);
      p();
    }
  }

  if (r.e2e) {
    p("## 6. End to end: ticket accepted → entry in success_request.log");
    p();
    if (skipped(r.e2e)) p(`Skipped: ${r.e2e.skipped}`);
    else {
      p("| collector wakes by | PERIOD_CHECK | samples | p50 | max | all samples (ms) |");
      p("|---|---|---|---|---|---|");
      for (const e of r.e2e.modes) p(`| ${e.mode} | ${e.periodCheck} s | ${e.samples.length} | ${ms(e.p50)} | **${ms(e.max)}** | ${e.samples.map((x) => fmt(x, 0)).join(", ")} |`);
      p();
    }
  }

  if (r.postgres) {
    p("## 7. PostgreSQL: several servers on one database");
    p();
    if (skipped(r.postgres)) p(`Skipped (not judged): ${r.postgres.skipped}`);
    else for (const line of renderPostgres(r.postgres)) p(line);
    p();
  }

  p("## Method");
  p();
  p(METHOD(r));
  if (r.findings) {
    p();
    p("## Findings");
    p();
    p(r.findings.trim());
  }
  p();
  return out.join("\n");
}

function METHOD(r: Results): string {
  const P = r.params as Record<string, any>;
  return [
    `- Every party runs in a process of its own (\`Bun.spawn\`): the server or collector under test, the SMTP sink (\`bench/sink.ts\`, smtp-server that drains and discards each message, AUTH PLAIN/LOGIN with the configured login, no STARTTLS, and without smtp-server's fixed 100 ms pause before each greeting — real MTAs greet at once, and the pause would otherwise dominate every pooled reconnect), the IMAP host (\`bench/imap-host.ts\`, the project's sandbox IMAP server, lib/sandbox/imap.ts), the load generator (\`bench/load.ts\`) and each limit (\`bench/limit-smtp.ts\`, \`bench/limit-imap.ts\`). The orchestrator (\`bench/run.ts\`) only starts them, samples memory and collects their JSON result lines. Entry points run as \`bun --no-env-file …\` with every key given explicitly, so no .env/.env.local changes what is measured.`,
    `- Repetitions: ${P.serverReps} per server level, ${P.collectorReps} per collector size, ${P.clientRuns} runs per client-start command, ${P.e2eSamples} end-to-end samples per mode. Server and limit runs alternate (server, limit, server, limit, …) so that drift in machine load hits both alike. Figures are medians over repetitions; each ratio is the ratio of the medians.`,
    `- **Server**: \`bun server.ts\` with STATE_DIR/LOG_DIR in a fresh temporary directory per run, RATE_LIMIT_PER_MINUTE=0, RECIPIENT_LIMIT_PER_HOUR=0, SMTP_POOL_SIZE=5, SMTP to a fresh sink. The load generator opens N connections; each sends a request, waits for its reply line, sends the next (closed loop, NDJSON), until ${Number(P.serverTickets).toLocaleString("en-US")} tickets are answered (after ${P.warmup} unmeasured warm-up tickets that fill the SMTP pool). Latency is from writing the request line to reading the reply line. Requests cycle through 1,000 recipient addresses. After each run the sink's count is checked against 2 × accepted tickets (admin copies queued in the outbox are waited for). The light-load run (${P.light} connections, p50/p99) mails into a sink with smtp-server's default settings (its 100 ms greeting pause and a reverse DNS lookup per connection), so a request that waited for a new SMTP connection would show in p99. **Limit**: \`bench/limit-smtp.ts\`, nodemailer with the server's pool settings (pool, ${P.poolSize} connections, ${P.maxMessages} messages per connection, same AUTH) sending the same 2 messages per ticket (user copy; admin copy with Reply-To) straight into a fresh sink, with 2 × N messages in flight (as many as N client connections can have), ${(Number(P.serverTickets) * 2).toLocaleString("en-US")} messages.`,
    `- **Capacity**: one load-generator process opens ${Number(P.idleConnections).toLocaleString("en-US")} TCP connections (500 connects in flight at a time, \`ulimit -n\` raised for it) that never send anything; the server runs with IDLE_TIMEOUT=3600 and MAX_CONNECTIONS=${Number(P.idleConnections) + 100} (room for the probe). Once all are open and the server's RSS has settled, VmRSS is read from /proc/<pid>/status, then ${P.probes} valid requests are sent one after another on one more connection (latency per request).`,
    `- **Collector**: the IMAP host holds a backlog generated by \`bench/messages.ts\` (seeded; ~45% ticket mail of which a fifth are \`Re:\` replies, ~55% ordinary; ~45% plain UTF-8, ~15% multipart/alternative, ~10% multipart/mixed with an attachment, ~30% windows-1251 in quoted-printable or base64 with RFC 2047 headers; ~1 KB each). \`bun collector.ts --once --all\` runs against it with a fresh STATE_DIR/LOG_DIR each time; messages/s = messages ÷ wall time from spawn to exit (Bun start-up, connect and login included), and the entries in the two logs are counted (the last column of the table; they must add up to the message count). Peak RSS is the larger of the sampled VmHWM (/proc, every 25 ms) and the kernel's ru_maxrss at exit. Limits, timed the same way (spawn to exit): **bare fetch** = imapflow FETCH 1:* (UID, BODY.PEEK[]) counting bytes; **naive fetch+parse** = the same loop awaiting mailparser's \`simpleParser\` on each source.`,
    `- **Client start**: wall time of \`bun client.ts --help\` vs \`bun <tmp>/one-line.ts\` holding \`console.log(1)\`, both from the repo directory, alternated, after one unmeasured run of each; medians.`,
    `- **Store**: \`bench/store-commits.ts\` issues tickets through lib/store in one process with 50 concurrent callers (the group commit: the calls that arrive in one event-loop turn share one BEGIN IMMEDIATE transaction, WAL, synchronous=FULL), against the same writes committed one transaction each. **Collector start-up**: a success log of ${Number(P.largeLog ?? 0).toLocaleString("en-US")} generated entries (~230 bytes each) in a fresh LOG_DIR; the first \`collector.ts --once\` indexes it (the one-time cost after an upgrade), then ${P.startupRuns ?? "?"} more starts are timed from spawn to exit, each ending with "Nothing new" (Bun start-up, IMAP connect and login included); the same with an empty log gives the ratio. Peak RSS sampled every 5 ms.`,
    `- **End to end**: sandbox SMTP+IMAP (lib/sandbox) in one process, \`bun server.ts\` and \`bun collector.ts\` (not --once) as their own processes. A ticket is sent on a fresh connection; the clock starts when the OK reply arrives and stops when the ticket's entry appears in success_request.log (polled every 2 ms). With IDLE: IMAP offers IDLE and PERIOD_CHECK=60, so only IDLE can explain a fast pick-up. Polling: IMAP without IDLE, PERIOD_CHECK=1. Samples are spaced by a random pause (IDLE: 50–250 ms; polling: 0–PERIOD_CHECK, so samples fall at every phase of the polling period), after one unmeasured warm-up ticket.`,
    r.postgres ? postgresMethod() : "",
    r.quick ? "- Quick mode: the counts above are the quick ones; 10,000-message collector and Dovecot runs are left out." : "",
  ].filter(Boolean).join("\n");
}
