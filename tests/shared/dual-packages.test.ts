// No package is evaluated twice (its ESM and its CommonJS build) by a program's modules: it cost
// the collector ~10 ms of every start and a second copy in the heap (html-to-text and its six
// dependencies: mailparser `require`s it, lib/shared/mail-text.ts imported it).
import { expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";

setDefaultTimeout(60_000); // spawns bun; a loaded machine needs more than Bun's 5 s default

const ROOT = join(import.meta.dir, "../..");
// the parse worker is lib/shared/mail-text.ts behind a message handler (importing it would wait for messages)
const PROGRAMS = ["lib/collector/program.ts", "lib/shared/mail-text.ts", "lib/sandbox/imap.ts", "lib/server/program.ts", "lib/client/index.ts", "lib/web/index.ts"];

test.each(PROGRAMS)("%s loads no package in both its ESM and CommonJS builds", async (module) => {
  const proc = Bun.spawn([process.execPath, join(ROOT, "tests/helpers/dual-packages.ts"), join(ROOT, module)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  expect(JSON.parse(out)).toEqual([]);
});
