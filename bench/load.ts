// Load generator for the ticket server's wire protocol (NDJSON over TCP, README "Wire
// protocol"). Closed loop: each connection sends one request, waits for its reply line, then
// sends the next, until `total` requests have been answered across all connections. Also holds
// many idle connections open for the capacity test. Usable as a module or as a CLI that prints
// one JSON line (so it runs in a process of its own, apart from server and sink); its command
// line is LOAD_COMMAND at the end.
import type { Socket } from "bun";
import { runCommand, type CommandLine, type CommandSpec } from "../lib/shared/args";
import { MailerError } from "../lib/shared/errors";

export interface ClosedLoopResult {
  total: number;
  ok: number;
  /** Count of ERROR replies by code, plus "DISCONNECTED" for connections lost mid-request. */
  errors: Record<string, number>;
  elapsedMs: number;
  /** Requests answered OK per second over the whole run. */
  perSecond: number;
  /** Latency of each OK request, ms, in completion order. */
  latencies: number[];
  firstTicket: string | null;
  lastTicket: string | null;
}

/** The request body of ticket `i`: a distinct recipient and a short, realistic text. */
export function makeRequest(i: number): string {
  return JSON.stringify({
    email: `user${i % 1000}@bench.example`,
    message: `Benchmark ticket ${i}\nThe printer on floor ${i % 7} does not print.\nPlease help — спасибо!`,
  }) + "\n";
}

interface ConnState { buf: string; sentAt: number; pending: string; busy: boolean; done: boolean }

export async function closedLoop(opts: { host?: string; port: number; connections: number; total: number; request?: (i: number) => string; timeoutMs?: number }): Promise<ClosedLoopResult> {
  const host = opts.host ?? "127.0.0.1";
  const request = opts.request ?? makeRequest;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let issued = 0;
  let answered = 0;
  let ok = 0;
  let firstTicket: string | null = null;
  let lastTicket: string | null = null;
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const finished = new Promise<void>((res, rej) => { finish = res; fail = rej; });
  const sockets: Socket<ConnState>[] = [];
  const countError = (code: string) => { errors[code] = (errors[code] ?? 0) + 1; };
  const checkDone = () => { if (answered >= opts.total) finish(); };

  const sendNext = (s: Socket<ConnState>) => {
    if (issued >= opts.total) { s.data.done = true; s.end(); return; }
    const line = request(issued++);
    s.data.busy = true;
    s.data.sentAt = performance.now();
    const n = s.write(line);
    s.data.pending = n < line.length ? line.slice(n) : ""; // Bun's write() may take only part; the rest goes on drain
  };

  const started = performance.now();
  const connectOne = () =>
    Bun.connect<ConnState>({
      hostname: host,
      port: opts.port,
      data: { buf: "", sentAt: 0, pending: "", busy: false, done: false },
      socket: {
        open(s) { sockets.push(s); sendNext(s); },
        drain(s) {
          if (!s.data.pending) return;
          const n = s.write(s.data.pending);
          s.data.pending = s.data.pending.slice(n);
        },
        data(s, chunk) {
          s.data.buf += chunk.toString();
          let nl: number;
          while ((nl = s.data.buf.indexOf("\n")) >= 0) {
            const line = s.data.buf.slice(0, nl);
            s.data.buf = s.data.buf.slice(nl + 1);
            if (!line.trim()) continue;
            const latency = performance.now() - s.data.sentAt;
            s.data.busy = false;
            answered++;
            let reply: any;
            try { reply = JSON.parse(line); } catch { countError("UNPARSABLE_REPLY"); }
            if (reply?.status === "OK") {
              ok++;
              latencies.push(latency);
              firstTicket ??= String(reply.ticket);
              lastTicket = String(reply.ticket);
            } else if (reply) countError(String(reply.code ?? "NO_CODE"));
            sendNext(s);
          }
          checkDone();
        },
        close(s) {
          if (s.data.busy) { s.data.busy = false; answered++; countError("DISCONNECTED"); checkDone(); }
        },
        error(_s, err) { countError(`SOCKET_${(err as any).code ?? "ERROR"}`); },
      },
    });

  const timer = setTimeout(() => fail(new Error(`closed loop: ${answered}/${opts.total} answered within ${opts.timeoutMs ?? 300_000} ms`)), opts.timeoutMs ?? 300_000);
  try {
    await Promise.all(Array.from({ length: opts.connections }, connectOne));
    if (opts.total === 0) finish();
    await finished;
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.end();
  }
  const elapsedMs = performance.now() - started;
  return { total: opts.total, ok, errors, elapsedMs, perSecond: (ok / elapsedMs) * 1000, latencies, firstTicket, lastTicket };
}

/** Sends one request on a fresh connection; times are performance.now() of this process. */
export async function sendOne(opts: { host?: string; port: number; line: string; timeoutMs?: number }): Promise<{ reply: any; sentAt: number; repliedAt: number }> {
  let buf = "";
  let sentAt = 0;
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply within ${opts.timeoutMs ?? 15_000} ms`)), opts.timeoutMs ?? 15_000);
    Bun.connect({
      hostname: opts.host ?? "127.0.0.1",
      port: opts.port,
      socket: {
        open(s) { sentAt = performance.now(); s.write(opts.line); },
        data(s, chunk) {
          buf += chunk.toString();
          const nl = buf.indexOf("\n");
          if (nl < 0) return;
          const repliedAt = performance.now();
          clearTimeout(timer);
          try { resolve({ reply: JSON.parse(buf.slice(0, nl)), sentAt, repliedAt }); } catch (e) { reject(e); }
          s.end(); // after settling: end() runs close() synchronously
        },
        close() { clearTimeout(timer); reject(new Error("connection closed before a reply")); },
        error(_s, err) { clearTimeout(timer); reject(err); },
      },
    }).catch((e) => { clearTimeout(timer); reject(e); });
  });
}

export interface IdleHolder {
  opened: number;
  /** Connections the server (or the OS) closed since they were opened. */
  readonly closed: number;
  readonly errors: Record<string, number>;
  close(): void;
}

/** Opens `count` connections that never send anything, `batch` connects in flight at a time. */
export async function holdIdle(opts: { host?: string; port: number; count: number; batch?: number }): Promise<IdleHolder> {
  const host = opts.host ?? "127.0.0.1";
  const sockets: Socket<undefined>[] = [];
  const errors: Record<string, number> = {};
  let closed = 0;
  let closing = false;
  const handlers = {
    data() {},
    close() { if (!closing) closed++; },
    error(_s: Socket<undefined>, err: Error) { const c = `SOCKET_${(err as any).code ?? "ERROR"}`; errors[c] = (errors[c] ?? 0) + 1; },
  };
  const batch = opts.batch ?? 500;
  for (let i = 0; i < opts.count; i += batch) {
    const n = Math.min(batch, opts.count - i);
    const got = await Promise.allSettled(Array.from({ length: n }, () => Bun.connect({ hostname: host, port: opts.port, socket: handlers })));
    for (const g of got) {
      if (g.status === "fulfilled") sockets.push(g.value);
      else { const c = `CONNECT_${(g.reason as any)?.code ?? "FAILED"}`; errors[c] = (errors[c] ?? 0) + 1; }
    }
  }
  return {
    opened: sockets.length,
    get closed() { return closed; },
    get errors() { return errors; },
    close() { closing = true; for (const s of sockets) s.end(); },
  };
}

const LOAD_COMMAND: CommandSpec = {
  program: "bench/load.ts",
  usage: `Usage: bun bench/load.ts closed --port P --connections C --total N [--host H] [--warmup W]
       bun bench/load.ts idle   --port P --count N [--host H]      (SIGUSR2 → status line, SIGTERM → result)

The benchmark's load generator (bun run bench starts it); prints one JSON line.`,
  options: {
    host: { type: "string" },
    port: { type: "string" },
    connections: { type: "string" },
    total: { type: "string" },
    warmup: { type: "string" },
    count: { type: "string" },
  },
  positionals: true,
};

async function main(line: CommandLine): Promise<number> {
  const arg = (name: string, fallback?: string): string => {
    const v = line.values[name];
    if (typeof v === "string") return v;
    if (fallback === undefined) throw new MailerError("usage", `--${name} is required`);
    return fallback;
  };
  const [mode, ...extra] = line.positionals;
  if ((mode !== "closed" && mode !== "idle") || extra.length) throw new MailerError("usage", "the first argument is the mode: closed or idle");
  const host = arg("host", "127.0.0.1");
  const port = Number(arg("port"));
  if (mode === "closed") {
    const warmup = Number(arg("warmup", "0"));
    const connections = Number(arg("connections"));
    const total = Number(arg("total"));
    // Warm-up (not measured): fills the SMTP pool and JIT-compiles the hot paths on both sides.
    const w = warmup > 0 ? await closedLoop({ host, port, connections: Math.min(connections, warmup), total: warmup, request: (i) => makeRequest(1_000_000 + i) }) : null;
    const r = await closedLoop({ host, port, connections, total });
    console.log(JSON.stringify({ result: { ...r, warmupOk: w?.ok ?? 0, warmupErrors: w?.errors ?? {} } }));
    return 0;
  }
  const holder = await holdIdle({ host, port, count: Number(arg("count")) });
  const status = () => ({ opened: holder.opened, closed: holder.closed, errors: holder.errors });
  console.log(JSON.stringify({ ready: status() }));
  process.on("SIGUSR2", () => console.log(JSON.stringify({ status: status() })));
  const keepAlive = setInterval(() => {}, 1 << 30); // even when the server has closed every socket
  return new Promise<number>((resolve) => {
    process.on("SIGTERM", () => { console.log(JSON.stringify({ result: status() })); holder.close(); clearInterval(keepAlive); resolve(0); });
  });
}

if (import.meta.main) process.exit(await runCommand(LOAD_COMMAND, Bun.argv.slice(2), main));
