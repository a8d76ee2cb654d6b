import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acquireCollectorLock, CHECKPOINT_FILE, LOCK_FILE, readCheckpoint, writeCheckpoint, type Checkpoint } from "../../lib/collector/checkpoint";
import { tempDir } from "../helpers/env";

const dirs: { cleanup: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));
const dir = () => {
  const d = tempDir("mailer-cp-");
  dirs.push(d);
  return d.path;
};
const cp: Checkpoint = { account: "a@h:1/INBOX", uidValidity: 5, lastUid: 10, pending: [3, 7], dedupeUpTo: 10 };

test("no file → null; write then read round-trips; no temp file left behind", () => {
  const d = dir();
  expect(readCheckpoint(d)).toBeNull();
  writeCheckpoint(d, cp);
  expect(readCheckpoint(d)).toEqual(cp);
  writeCheckpoint(d, { ...cp, lastUid: 11, pending: [] });
  expect(readCheckpoint(d)?.lastUid).toBe(11);
  expect(readdirSync(d)).toEqual([CHECKPOINT_FILE]);
});

test("a damaged or foreign checkpoint reads as none (the logs then decide)", () => {
  const d = dir();
  for (const text of ["{not json", JSON.stringify({ ...cp, pending: ["x"] }), JSON.stringify({ uidValidity: 5 })]) {
    writeFileSync(join(d, CHECKPOINT_FILE), text);
    expect(readCheckpoint(d)).toBeNull();
  }
});

test("an unreadable STATE_DIR is reported with the path", () => {
  const d = dir();
  writeFileSync(join(d, "file"), "");
  expect(() => writeCheckpoint(join(d, "file"), cp)).toThrow();
});

test("one collector per STATE_DIR; a lock left by a dead process is taken over", () => {
  const d = dir();
  const release = acquireCollectorLock(d);
  // a live process holds it: this test process itself, seen from a pretend second collector
  writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: require("node:os").hostname() }));
  expect(() => acquireCollectorLock(d)).toThrow(/another Mailer collector \(pid \d+(, started [^)]+)?\) is already using STATE_DIR=.*two collectors would log every message twice/);
  // a dead one (kill -9 leaves its lock)
  const dead = Bun.spawnSync(["true"]).pid;
  writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: dead, host: require("node:os").hostname() }));
  const again = acquireCollectorLock(d);
  expect(JSON.parse(readFileSync(join(d, LOCK_FILE), "utf8")).pid).toBe(process.pid);
  again();
  expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  release(); // not ours any more: leaves nothing to remove, does not throw
});
