// Shared test plumbing: free loopback ports, temporary directories, and the entry points run
// as real processes with an explicit environment (never the developer's .env.local).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO = resolve(import.meta.dir, "../..");
export const CORPORA = resolve(REPO, "../shared/corpora");

import { freePort, tempDir } from "./kit";

export { freePort, tempDir };

/** Keys that would otherwise come from the repo's .env; tests set every one they rely on. */
export function baseEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"]) if (process.env[key]) env[key] = process.env[key]!;
  return { ...env, NODE_ENV: "test", ...overrides };
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs `bun <entry> ...args` in the repo to completion (stdin optional). */
export async function runEntry(entry: string, args: string[], env: Record<string, string>, stdin?: string, timeoutMs = 20_000): Promise<RunResult> {
  const proc = Bun.spawn(["bun", entry, ...args], {
    cwd: REPO,
    env,
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Starts a long-running entry point; resolves once a line matching `ready` appears on stdout or stderr. */
export async function startEntry(entry: string, args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 15_000) {
  const proc = Bun.spawn(["bun", entry, ...args], { cwd: REPO, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
  const deadline = Date.now() + timeoutMs;
  while (!ready.test(output)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${entry} did not become ready (exit ${proc.exitCode}); output:\n${output}`);
    }
    await Bun.sleep(20);
  }
  return {
    proc,
    output: () => output,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      proc.kill(signal);
      const code = await proc.exited;
      await done;
      return code;
    },
  };
}

/**
 * A complete environment for the whole system on the sandbox: every port free, logs and state
 * in `dir`. The sandbox accepts exactly this login and password.
 */
export function sandboxEnv(dir: string, overrides: Record<string, string> = {}): Record<string, string> {
  return baseEnv({
    EMAIL_LOGIN: "admin@mailer.test",
    EMAIL_PASSWORD: "sandbox-test-password",
    ADMIN_EMAIL: "admin@mailer.test",
    SMTP_HOST: "127.0.0.1",
    SMTP_PORT: String(freePort()),
    IMAP_HOST: "127.0.0.1",
    IMAP_PORT: String(freePort()),
    SERVER_HOST: "127.0.0.1",
    SERVER_PORT: String(freePort()),
    SANDBOX_WEB_PORT: String(freePort()),
    WEB_PORT: String(freePort()),
    PERIOD_CHECK: "5",
    LOG_DIR: join(dir, "logs"),
    STATE_DIR: join(dir, "state"),
    ...overrides,
  });
}
