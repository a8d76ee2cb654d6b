// Child processes for `bun run demo` / `bun run dev`: the real entry points, their output
// shown line by line under a name prefix, the last lines kept for an error report, and a
// stop that escalates from SIGTERM to SIGKILL so nothing is ever left running.
import type { Subprocess } from "bun";

const TAIL_LINES = 30;
/** Every child still running, so a signal handler can stop them all wherever start-up got to. */
const live = new Set<Child>();

export interface ChildOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  /** called with every output line, already prefixed (`[server] …`); omit to keep output quiet */
  print?: (line: string) => void;
}

export class Child {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly exited: Promise<number>;
  private lines: string[] = [];
  private waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  private pumps: Promise<void>;

  constructor(readonly name: string, cmd: string[], private opts: ChildOptions) {
    // A process group of its own: Ctrl-C in the terminal reaches only us, and we stop each child
    // with exactly one SIGTERM. (Sharing the group, a child would get the terminal's SIGINT and
    // then our SIGTERM — a "second signal" that makes the collector and server quit at once.)
    this.proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
    this.pumps = Promise.all([this.pump(this.proc.stdout), this.pump(this.proc.stderr)]).then(() => {});
    this.exited = this.proc.exited;
    live.add(this);
    this.exited.then(() => live.delete(this));
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      partial += decoder.decode(chunk, { stream: true });
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const line of parts) this.line(line.replace(/\r$/, ""));
    }
    if (partial) this.line(partial);
  }

  private line(text: string): void {
    this.lines.push(text);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    this.opts.print?.(`[${this.name}] ${text}`);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pattern.test(text)) return true;
      w.resolve(text);
      return false;
    });
  }

  /** Resolves with the first output line matching `pattern`; rejects if the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number, what = `a line matching ${pattern}`): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not print ${what} within ${timeoutMs / 1000} s`)), timeoutMs);
      const waiter = { pattern, resolve: (line: string) => { clearTimeout(timer); resolve(line); } };
      this.waiters.push(waiter);
      this.exited.then(async (code) => {
        await this.pumps; // the line we wait for may still be in the pipe
        if (!this.waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with code ${code} before printing ${what}`));
      });
    });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last lines of output, for an error report. */
  tail(): string[] {
    return [...this.lines];
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone and its output read. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.running) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await this.pumps;
  }
}

/** Stops every child this process started and that is still running. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

/**
 * SIGKILL for every child still running, at once: a second Ctrl-C ends us without waiting,
 * and the children sit in process groups of their own, so they would otherwise stay behind.
 */
export function killAllChildren(): void {
  for (const c of live) if (c.running) c.proc.kill("SIGKILL");
}

/** Prints each child's last output lines (for a failure report). */
export function printTails(children: Child[], print: (line: string) => void): void {
  for (const child of children) {
    const tail = child.tail();
    print(`--- last ${tail.length} line${tail.length === 1 ? "" : "s"} of ${child.name} output${child.running ? "" : ` (exit ${child.proc.exitCode ?? child.proc.signalCode})`} ---`);
    for (const line of tail) print(`  ${line}`);
  }
}
