// Plumbing for the hardening tests (issue #6): a seeded PRNG (failures reproduce from the
// printed seed), the RSS of a process, polling, and server.ts / collector.ts started as real
// processes with every key given explicitly.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, freePort, startEntry, tempDir } from "./env";

export { prng, seedFor, until } from "./kit";

/** Resident set size of a live process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}


export const ADMIN = "admin@mailer.test";

/** The full server environment; rate limits off unless a test turns them on. */
export function serverEnv(smtpPort: number, stateDir: string, password: string, extra: Record<string, string> = {}) {
  return baseEnv({
    EMAIL_LOGIN: ADMIN, EMAIL_PASSWORD: password, ADMIN_EMAIL: ADMIN,
    SMTP_HOST: "127.0.0.1", SMTP_PORT: String(smtpPort), SMTP_SECURE: "", TLS_CA_FILE: "",
    IMAP_HOST: "127.0.0.1", IMAP_PORT: "1143", PERIOD_CHECK: "5",
    SERVER_HOST: "127.0.0.1", SERVER_PORT: String(freePort()),
    LOG_DIR: join(stateDir, "logs"), STATE_DIR: stateDir,
    MAX_REQUEST_BYTES: "65536", MAX_MESSAGE_CHARS: "10000", IDLE_TIMEOUT: "30", MAX_CONNECTIONS: "1000",
    SMTP_POOL_SIZE: "3", RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0", SMTP_TIMEOUT: "5", OUTBOX_RETRY: "30",
    ...extra,
  });
}

export type Running = Awaited<ReturnType<typeof startEntry>> & { env: Record<string, string>; port: number; dir: string };

/**
 * Starts server.ts; registers its SIGKILL and its temp dir in `cleanups`. `extra.STATE_DIR`
 * reuses a directory (a second lifetime); otherwise a fresh one is made.
 */
export async function startServer(
  cleanups: (() => unknown)[],
  smtpPort: number,
  password: string,
  extra: Record<string, string> = {},
  args: string[] = [],
): Promise<Running> {
  let dir = extra.STATE_DIR;
  if (!dir) {
    const t = tempDir("mailer-hard-");
    cleanups.push(t.cleanup);
    dir = t.path;
  }
  const env = serverEnv(smtpPort, dir, password, extra);
  const s = await startEntry("server.ts", args, env, /listening on/);
  cleanups.push(async () => {
    if (s.proc.exitCode === null) await s.stop("SIGKILL");
  });
  return { ...s, env, port: Number(env.SERVER_PORT), dir };
}
