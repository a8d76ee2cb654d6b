import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nextUidValidity } from "../../lib/sandbox/uidvalidity";
import { REPO, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const dirs: { cleanup(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));
function file() {
  const d = tempDir("mailer-uidv-");
  dirs.push(d);
  return join(d.path, "uidvalidity");
}

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0, 400);

test("the first value is the current second; later ones in the same second still increase", () => {
  const f = file();
  expect(nextUidValidity(f, NOW)).toBe(Math.floor(NOW / 1000));
  expect(nextUidValidity(f, NOW + 100)).toBe(Math.floor(NOW / 1000) + 1);
  expect(nextUidValidity(f, NOW + 200)).toBe(Math.floor(NOW / 1000) + 2);
  expect(readFileSync(f, "utf8")).toBe(String(Math.floor(NOW / 1000) + 2));
  // Once the clock is past the recorded value, the clock decides again
  expect(nextUidValidity(f, NOW + 60_000)).toBe(Math.floor(NOW / 1000) + 60);
});

test("two processes starting sandboxes in the same second get different values", async () => {
  const f = file();
  const run = async () => {
    const proc = Bun.spawn(["bun", "-e", `const { nextUidValidity } = require("./lib/sandbox/uidvalidity.ts"); console.log(nextUidValidity(${JSON.stringify(f)}, ${NOW}))`], { cwd: REPO, stdout: "pipe" });
    return Number((await new Response(proc.stdout).text()).trim());
  };
  const a = await run();
  const b = await run();
  expect(a).toBe(Math.floor(NOW / 1000));
  expect(b).toBe(a + 1);
});

test("a corrupt or unwritable record never stops the sandbox from starting", () => {
  const f = file();
  writeFileSync(f, "garbage");
  expect(nextUidValidity(f, NOW)).toBe(Math.floor(NOW / 1000));
  writeFileSync(f, String(0xffffffff));
  expect(nextUidValidity(f, NOW)).toBe(1); // wrapped: still a valid nz-number
  expect(nextUidValidity(join(f, "not-a-dir", "x"), NOW)).toBe(Math.floor(NOW / 1000));
});
