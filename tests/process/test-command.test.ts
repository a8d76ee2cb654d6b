// The README's test command is plain `bun test`, and .ci/run runs exactly it: a test that takes
// longer than Bun's built-in 5 s default passes there too (the preload in bunfig.toml), and CI
// does not add flags of its own.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, REPO } from "../helpers/env";

test("plain `bun test` gives a test more than Bun's 5 s default", async () => {
  const proc = Bun.spawn(["bun", "test", "./tests/fixtures/takes-6s.fixture.ts"], { cwd: REPO, env: baseEnv(), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, summary: `${out}${err}`.match(/^ *\d+ (pass|fail)$/gm) }).toEqual({ code: 0, summary: [" 1 pass", " 0 fail"] });
}, 30_000);

test("the README's test command is what .ci/run runs and what `bun run test` runs", () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  expect(readme).toContain("bun install && bun test\n");
  const ci = readFileSync(join(REPO, ".ci/run"), "utf8");
  expect(ci).toMatch(/^bun test <\/dev\/null 2>&1 \| tee "\$log"$/m);
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  expect(pkg.scripts.test).toBe("bun test");
});
