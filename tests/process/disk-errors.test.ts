// The collector and a log directory it cannot write: LOG_DIR is a file, or sits under a file,
// or the disk is full (a real ENOSPC on a small tmpfs mounted for the test; root only). In
// every case: a clear error, a non-zero exit, and the checkpoint never moves past a message
// that is not in the log — so once there is room again, every message is logged exactly once.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap, type SandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, runEntry, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (README "Development")

const USER = "admin@mailer.test";
const PASS = "disk-pw";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const message = (i: number) =>
  `From: p${i}@example.com\r\nTo: ${USER}\r\nSubject: [Ticket #${50000 + i}] Mailer\r\nMessage-ID: <d${i}@example.com>\r\n\r\nmessage ${i}\r\n${"filler text for a bigger log entry\r\n".repeat(25)}`;

async function sandbox(count: number): Promise<SandboxImap> {
  const s = await startSandboxImap({ port: 0, users: { [USER]: PASS } });
  cleanups.push(() => s.close());
  for (let i = 0; i < count; i++) await s.append(message(i));
  return s;
}
const env = (port: number, logDir: string, stateDir: string) =>
  baseEnv({ EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: logDir, STATE_DIR: stateDir });

/** Complete entries in the success log (a line torn by ENOSPC is not one). */
function logged(logDir: string): number[] {
  const p = join(logDir, "success_request.log");
  if (!existsSync(p)) return [];
  const uids: number[] = [];
  for (const line of readFileSync(p, "utf8").split("\n")) {
    try {
      uids.push(JSON.parse(line).uid);
    } catch {
      /* torn or empty */
    }
  }
  return uids;
}
function checkpoint(stateDir: string): { lastUid: number; pending: number[] } | null {
  const p = join(stateDir, "collector-checkpoint.json");
  return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : null;
}
/** UIDs the checkpoint says are done: at or below lastUid and not pending. */
function claimedDone(stateDir: string, all: number): number[] {
  const cp = checkpoint(stateDir);
  if (!cp) return [];
  const pending = new Set(cp.pending);
  return Array.from({ length: all }, (_, i) => i + 1).filter((u) => u <= cp.lastUid && !pending.has(u));
}

describe("a log directory that cannot be written", () => {
  for (const [name, make] of [
    ["LOG_DIR is a regular file", (root: string) => (writeFileSync(join(root, "logs"), "not a directory"), join(root, "logs"))],
    ["LOG_DIR's parent is a regular file", (root: string) => (writeFileSync(join(root, "file"), "x"), join(root, "file", "logs"))],
  ] as const) {
    test(`${name}: exit 1, a clear message naming LOG_DIR, no checkpoint written`, async () => {
      const s = await sandbox(3);
      const t = tempDir("mailer-disk-");
      cleanups.push(t.cleanup);
      const logDir = make(t.path);
      const stateDir = join(t.path, "state");
      const r = await runEntry("collector.ts", ["--once"], env(s.port, logDir, stateDir));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`LOG_DIR=${logDir}`);
      expect(r.stderr).toMatch(/ENOTDIR|EEXIST|not a directory|file already exists/i);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(checkpoint(stateDir)).toBeNull();
      expect(existsSync(join(stateDir, "collector.lock"))).toBe(false); // the lock is released
    }, 20_000);
  }
});

describe("a full disk (ENOSPC on a small tmpfs)", () => {
  test("the log fills up mid-backlog: exit 1 naming the cause; the checkpoint claims nothing unlogged; with room again every message once", async () => {
    const t = tempDir("mailer-enospc-");
    cleanups.push(t.cleanup);
    const mnt = join(t.path, "disk");
    mkdirSync(mnt);
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], { encoding: "utf8" });
    if (mount.status !== 0) {
      console.log(`skipped: cannot mount a tmpfs (${mount.stderr.trim() || "not root?"}) — the ENOSPC path is then only covered by the LOG_DIR-is-a-file tests`);
      return;
    }
    cleanups.push(() => void spawnSync("umount", ["-l", mnt]));
    // leave ~100 KB free: room for some of the backlog, not all of it
    writeFileSync(join(mnt, "filler"), Buffer.alloc(1024 * 1024 - 100 * 1024));
    const N = 300;
    const s = await sandbox(N);
    const logDir = join(mnt, "logs");
    const stateDir = join(t.path, "state");

    const full = await runEntry("collector.ts", ["--once", "--all"], env(s.port, logDir, stateDir), undefined, 60_000);
    const before = logged(logDir);
    console.log(`disk full after ${before.length} of ${N} entries; exit ${full.code}; ${full.stderr.trim().split("\n").at(-1)}`);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/ENOSPC|no space left/i);
    expect(full.stderr).toContain("check free space");
    expect(full.stderr).not.toMatch(/\n\s+at /);
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(N);
    // the checkpoint never claims a message the log does not hold
    const notLogged = claimedDone(stateDir, N).filter((u) => !before.includes(u));
    expect(notLogged).toEqual([]);

    // room again: the next run logs the rest, nothing twice
    rmSync(join(mnt, "filler"));
    const again = await runEntry("collector.ts", ["--once"], env(s.port, logDir, stateDir), undefined, 60_000);
    expect(again.code).toBe(0);
    const after = logged(logDir);
    expect(after.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(claimedDone(stateDir, N)).toHaveLength(N);
  }, 60_000);
});
