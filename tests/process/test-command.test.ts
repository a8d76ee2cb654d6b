// The README's test command is plain `bun test`, and .ci/run runs exactly it. Bun's default of
// 5 s per test is too short for real processes on a loaded machine, and neither bunfig's
// `[test] timeout` (ignored, bun#7789) nor setDefaultTimeout in a preload (it reaches only the
// first file) changes it for a whole run: each file that starts processes sets its own.
import { expect, test, setDefaultTimeout } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

test("the README's test command is what .ci/run runs and what `bun run test` runs", () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  expect(readme).toContain("bun install && bun test\n");
  const ci = readFileSync(join(REPO, ".ci/run"), "utf8");
  expect(ci).toMatch(/^bun test <\/dev\/null 2>&1 \| tee "\$log"$/m);
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  expect(pkg.scripts.test).toBe("bun test");
});

test("every test file that starts real processes sets its own deadline", () => {
  const missing: string[] = [];
  for (const room of ["process", "realstack", "deploy"]) {
    for (const file of readdirSync(join(REPO, "tests", room)).filter((f) => f.endsWith(".test.ts"))) {
      if (!/^setDefaultTimeout\(60_000\);/m.test(readFileSync(join(REPO, "tests", room, file), "utf8"))) missing.push(`tests/${room}/${file}`);
    }
  }
  expect(missing).toEqual([]);
});
