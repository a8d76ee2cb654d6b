// History does not live in memory: with a 1,000,000-entry log the collector indexes it once
// (the first start after an upgrade, in bounded memory), and every later start reads only what
// lies past the indexed offset — start-up memory does not grow with the log. (The start-up
// time is measured by `bun run bench --only collector`; here only a generous memory ceiling.)
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, tempDir } from "../helpers/env";
import { onceWithPeak, writeLargeLog } from "../helpers/large-log";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const PASS = "large-log-pw";
const ENTRIES = 1_000_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test("a 1,000,000-entry log: indexed once in bounded memory; then a start to \"Nothing new\" stays under 150 MB", async () => {
  const t = tempDir("mailer-large-");
  cleanups.push(t.cleanup);
  const imap = await startSandboxImap({ port: 0, users: { [USER]: PASS }, uidValidity: 777 });
  cleanups.push(() => imap.close());
  const logDir = join(t.path, "logs");
  writeLargeLog(logDir, ENTRIES, 777);
  const env = baseEnv({ EMAIL_LOGIN: USER, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(imap.port), PERIOD_CHECK: "60", LOG_DIR: logDir, STATE_DIR: join(t.path, "state") });

  const first = await onceWithPeak(env); // the upgrade case: the whole log indexed once
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  expect(first.stdout).toContain("Nothing new.");
  console.log(`first start (indexing ${ENTRIES} entries): peak RSS ${first.peakMb.toFixed(0)} MB`);
  expect(first.peakMb).toBeLessThan(300);

  const again = await onceWithPeak(env);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("Nothing new.");
  console.log(`later start: peak RSS ${again.peakMb.toFixed(0)} MB`);
  expect(again.peakMb).toBeLessThan(150);
}, 180_000);
