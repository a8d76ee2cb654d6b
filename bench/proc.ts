// Child processes for the benchmarks: every measured party (server, collector, sink, IMAP host,
// load generator, limits) runs in a process of its own so that none shares an event loop with
// another. Helpers speak JSON lines on stdout: `{"ready":…}` once listening, `{"result":…}` at the end.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export const REPO = resolve(import.meta.dir, "..");

/** Memory figures of a live process from /proc/<pid>/status, in bytes (null once it is gone). */
export function procMemory(pid: number): { rss: number; hwm: number } | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const kb = (key: string) => {
    const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : NaN;
  };
  const rss = kb("VmRSS");
  if (Number.isNaN(rss)) return null; // a zombie has no Vm* lines
  return { rss, hwm: kb("VmHWM") };
}

/** Samples VmHWM (the kernel's own peak-RSS counter) every `everyMs` until stopped. */
export function sampleMemory(pid: number, everyMs = 25) {
  let peak = 0;
  let last = 0;
  const tick = () => {
    const m = procMemory(pid);
    if (m) {
      peak = Math.max(peak, m.hwm, m.rss);
      last = m.rss;
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    /** Peak seen so far, bytes. */
    get peak() { return peak; },
    get last() { return last; },
    stop() { tick(); clearInterval(timer); return peak; },
  };
}

export interface Child {
  proc: Bun.Subprocess<"ignore" | "pipe", "pipe", "pipe">;
  pid: number;
  /** Every stdout+stderr byte so far (for error messages). */
  output(): string;
  /** JSON objects printed on stdout, one per line, in order. */
  messages: any[];
  /** Resolves with the first JSON line that has `key`, among messages[from…]. */
  waitFor(key: string, timeoutMs?: number, from?: number): Promise<any>;
  /** Resolves once a stdout/stderr line matches. */
  waitForText(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number>;
  exited: Promise<number>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: "ignore" | "pipe";
  /** Raise the open-file limit of the child (via `prlimit`-like `ulimit -n` in a shell). */
  nofile?: number;
}

const live = new Set<Child>();

/** Spawns `cmd`, collecting its output; JSON lines on stdout land in `messages`. */
export function spawnChild(cmd: string[], opts: SpawnOptions = {}): Child {
  const argv = opts.nofile ? ["bash", "-c", `ulimit -n ${opts.nofile} && exec "$@"`, "bench", ...cmd] : cmd;
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd ?? REPO,
    env: opts.env ?? benchEnv(),
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  }) as Child["proc"];
  let text = "";
  const messages: any[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };
  const pump = async (stream: ReadableStream<Uint8Array>, parse: boolean) => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      const s = decoder.decode(chunk, { stream: true });
      text += s;
      if (parse) {
        pending += s;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line.startsWith("{")) {
            try { messages.push(JSON.parse(line)); } catch { /* a log line that looks like JSON */ }
          }
        }
      }
      if (text.length > 4_000_000) text = text.slice(-1_000_000); // chatty children must not eat memory
      wake();
    }
  };
  const drained = Promise.all([pump(proc.stdout, true), pump(proc.stderr, false)]);
  let child: Child | undefined = undefined;
  const exited = (async () => { const code = await proc.exited; await drained; wake(); if (child) live.delete(child); return code; })();
  const until = async <T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = check();
      if (got !== undefined) return got;
      if (proc.exitCode !== null || proc.signalCode) {
        await drained;
        const again = check();
        if (again !== undefined) return again;
        throw new Error(`${cmd.join(" ")} exited (${proc.exitCode ?? proc.signalCode}) before ${what}; output:\n${tail(text)}`);
      }
      if (Date.now() > deadline) throw new Error(`${cmd.join(" ")}: no ${what} within ${timeoutMs} ms; output:\n${tail(text)}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
    }
  };
  child = {
    proc,
    pid: proc.pid,
    output: () => text,
    messages,
    exited,
    waitFor: (key, timeoutMs = 30_000, from = 0) =>
      until(() => messages.slice(from).find((m) => m && typeof m === "object" && key in m)?.[key], `"${key}" line`, timeoutMs),
    waitForText: (re, timeoutMs = 30_000) => until(() => text.match(re)?.[0], `output matching ${re}`, timeoutMs),
    async stop(signal = "SIGTERM", graceMs = 5_000) {
      if (proc.exitCode === null && !proc.signalCode) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  live.add(child);
  return child;
}

function tail(s: string, n = 3000): string {
  return s.length > n ? "…" + s.slice(-n) : s;
}

/** Kills every child still running (used on the way out, also after an error). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop("SIGTERM", 3_000).catch(() => {})));
}

/** A clean environment for children: never the developer's .env.local, only what we give. */
export function benchEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"]) if (process.env[key]) env[key] = process.env[key]!;
  return { ...env, NODE_ENV: "production", ...extra };
}

/** Runs a helper that prints one `{"result":…}` line and exits; returns that result and the peak RSS. */
export async function runHelper(cmd: string[], opts: SpawnOptions & { timeoutMs?: number } = {}) {
  const started = performance.now();
  const child = spawnChild(cmd, opts);
  const mem = sampleMemory(child.pid);
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
  const code = await child.exited;
  clearTimeout(timer);
  const wallMs = performance.now() - started;
  const peak = Math.max(mem.stop(), child.proc.resourceUsage()?.maxRSS ?? 0);
  const result = child.messages.find((m) => m && "result" in m)?.result;
  if (code !== 0 || result === undefined) {
    throw new Error(`${cmd.join(" ")} failed (exit ${code}); output:\n${tail(child.output())}`);
  }
  return { result, wallMs, peakRss: peak, cpuSec: cpuSeconds(child.proc), output: child.output() };
}

/** User + system CPU of an exited child (all its threads), seconds. */
export function cpuSeconds(proc: Bun.Subprocess<any, any, any>): number {
  return Number(proc.resourceUsage()?.cpuTime.total ?? 0n) / 1e6;
}

/** Spawns the bun binary that runs this script (the same Bun version for every party). */
export const BUN = process.execPath;
