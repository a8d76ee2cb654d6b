// The one copy of the small test and bench plumbing: free loopback ports, temporary directories
// with a cleanup fixture, polling with a deadline, and a seeded PRNG whose seed is printed so a
// failure can be replayed. Used by tests/ and bench/ alike.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export function tempDir(prefix = "mailer-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** The cleanup fixture: a function that makes temporary directories, all removed after the file's tests. */
export function useTempDirs(prefix = "mailer-test-"): () => string {
  // required here, not imported: bench/ uses this file outside the test runner
  const { afterAll } = require("bun:test") as typeof import("bun:test");
  const made: (() => void)[] = [];
  afterAll(() => {
    for (const cleanup of made.splice(0)) cleanup();
  });
  return () => {
    const dir = tempDir(prefix);
    made.push(dir.cleanup);
    return dir.path;
  };
}

export interface UntilOptions {
  /** more to say when time runs out (e.g. a process's output) */
  detail?: () => string;
  stepMs?: number;
}

/** Polls until `cond` holds; throws naming `what` after `ms`. A deadline, never an assertion on speed. */
export async function until(cond: () => boolean, ms: number, what = "a condition", o: UntilOptions | (() => string) = {}): Promise<void> {
  const { detail, stepMs = 20 } = typeof o === "function" ? { detail: o } : o;
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `\n${detail()}` : ""}`);
    await Bun.sleep(stepMs);
  }
}

/** mulberry32: small, fast, good enough for fuzzing and bench data; the same seed gives the same stream. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** integer in [lo, hi] */
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}

/** A seed from FUZZ_SEED (to replay a failure) or a fresh one; printed either way. */
export function seedFor(name: string): number {
  const given = Number(process.env.FUZZ_SEED);
  const seed = Number.isInteger(given) && given > 0 ? given : Math.floor(Math.random() * 2 ** 31) + 1;
  console.log(`${name}: seed ${seed} (replay with FUZZ_SEED=${seed})`);
  return seed;
}

/** The complete lines of a JSON Lines file, parsed; [] when it does not exist. A line still being
 *  appended (no newline yet) is left out: tests read logs while a collector writes them. */
export function readJsonLines<T = any>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").slice(0, -1).filter(Boolean).map((l) => JSON.parse(l) as T);
}
