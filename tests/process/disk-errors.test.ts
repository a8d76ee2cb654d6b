// Disks that cannot be written. The collector: LOG_DIR is a file, or sits under a file, or the
// disk is full — a clear error, a non-zero exit, and the checkpoint never moves past a message
// that is not in the log, so once there is room again every message is logged exactly once.
// The server: its store on a full disk fails that request (INTERNAL) and leaves nothing behind
// that could swallow a later admin copy. (A real ENOSPC on a small tmpfs; root only.)
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap, type SandboxImap } from "../../lib/sandbox/imap";
import { requestTicket } from "../../lib/client/connection";
import { openStore } from "../../lib/store";
import { baseEnv, runEntry, tempDir } from "../helpers/env";
import { ADMIN, startServer, until } from "../helpers/hardening";
import { startSmtpSink } from "../helpers/smtp-sink";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

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
async function checkpoint(stateDir: string): Promise<{ lastUid: number; pending: number[] } | null> {
  if (!existsSync(join(stateDir, "mailer.db"))) return null;
  const store = await openStore({ stateDir, logDir: stateDir });
  const [cp] = await store.collector.checkpoints();
  await store.close();
  return cp ?? null;
}
/** UIDs the checkpoint says are done: at or below lastUid and not pending. */
async function claimedDone(stateDir: string, all: number): Promise<number[]> {
  const cp = await checkpoint(stateDir);
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
      expect(await checkpoint(stateDir)).toBeNull();
    }, 20_000);
  }
});

/** A 1 MB tmpfs under a temp dir, or null (with a note) when this process cannot mount one. */
function smallDisk(): string | null {
  const t = tempDir("mailer-enospc-");
  cleanups.push(t.cleanup);
  const mnt = join(t.path, "disk");
  mkdirSync(mnt);
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt], { encoding: "utf8" });
  if (mount.status !== 0) {
    console.log(`skipped: cannot mount a tmpfs (${mount.stderr.trim() || "not root?"}) — the ENOSPC path is then only covered by the tests that inject the failure`);
    return null;
  }
  cleanups.push(() => void spawnSync("umount", ["-l", mnt]));
  return mnt;
}

/** Fills the disk at DIR to the last byte. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch {} // ENOSPC: full
  try {
    for (;;) writeSync(fd, chunk, 0, 1);
  } catch {}
  closeSync(fd);
  return path;
}

describe("a full disk (ENOSPC on a small tmpfs)", () => {
  test("the server's store on a full disk: that request fails with INTERNAL, nothing swallows a later copy, a restart delivers every queued copy", async () => {
    const mnt = smallDisk();
    if (!mnt) return;
    let adminDown = true;
    const smtp = await startSmtpSink({ refuse: (a) => (a === ADMIN && adminDown ? 451 : false) });
    cleanups.push(() => smtp.close());
    const stateDir = join(mnt, "state");
    const start = () => startServer(cleanups, smtp.port, PASS, { STATE_DIR: stateDir, OUTBOX_RETRY: "0.3" });
    const first = await start();
    const a = await requestTicket("127.0.0.1", first.port, "a@example.com", "before the disk filled", 10_000);
    expect(a).toMatchObject({ kind: "reply", reply: { status: "OK" } });
    const filler = fill(mnt);
    const b = await requestTicket("127.0.0.1", first.port, "b@example.com", "while the disk is full", 10_000);
    expect(b).toMatchObject({ kind: "reply", reply: { status: "ERROR", code: "INTERNAL" } });
    expect((b as { reply: { error: string } }).reply.error).toContain("cannot write its outbox");
    await until(() => /cannot issue a ticket: .*disk is full/.test(first.output()), 5000, "the logged cause", first.output);
    expect(smtp.messages.map((m) => m.to[0])).toEqual(["a@example.com"]); // b got nothing
    rmSync(filler);
    const c = await requestTicket("127.0.0.1", first.port, "c@example.com", "with room again", 10_000);
    expect(c).toMatchObject({ kind: "reply", reply: { status: "OK" } });
    await first.stop("SIGKILL");
    adminDown = false;
    const second = await start();
    const tickets = [a, c].map((o) => (o as { reply: { ticket: string } }).reply.ticket);
    await until(() => smtp.messages.filter((m) => m.to[0] === ADMIN).length >= 2, 15_000, "both queued admin copies", second.output);
    await Bun.sleep(700); // more retry rounds: nothing more may arrive
    const copies = smtp.messages.filter((m) => m.to[0] === ADMIN).map((m) => m.parsed.subject);
    expect(copies.sort()).toEqual(tickets.map((t) => `[Ticket #${t}] Mailer`).sort());
  }, 60_000);

  test("the log fills up mid-backlog: exit 1 naming the cause; the checkpoint claims nothing unlogged; with room again every message once", async () => {
    const mnt = smallDisk();
    if (!mnt) return;
    const t = { path: join(mnt, "..") }; // the temp dir the disk is mounted in
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
    const notLogged = (await claimedDone(stateDir, N)).filter((u) => !before.includes(u));
    expect(notLogged).toEqual([]);

    // room again: the next run logs the rest, nothing twice
    rmSync(join(mnt, "filler"));
    const again = await runEntry("collector.ts", ["--once"], env(s.port, logDir, stateDir), undefined, 60_000);
    expect(again.code).toBe(0);
    const after = logged(logDir);
    expect(after.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(await claimedDone(stateDir, N)).toHaveLength(N);
  }, 60_000);
});
