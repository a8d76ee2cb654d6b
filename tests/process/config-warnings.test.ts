// What a program says about .env / .env.local it cannot use fully (lib/shared/cli.ts): a
// misspelt key gets "did you mean …?", a malformed key the program does not use is a warning
// for it, not a stop. The programs run in a directory of their own, with their own .env files.
import { expect, test, setDefaultTimeout } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, freePort, REPO } from "../helpers/env";
import { useTempDirs } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const temp = useTempDirs("mailer-envwarn-");

async function clientIn(dir: string) {
  const proc = Bun.spawn(["bun", join(REPO, "client.ts"), "-e", "ivan@example.com", "-m", "hi", "--timeout", "5"], { cwd: dir, env: baseEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

test("PERIOD_CHECK=abc does not stop the client (a warning naming who would stop); SMTP_PROT in .env.local: did you mean SMTP_PORT?", async () => {
  const dir = temp();
  writeFileSync(join(dir, ".env"), `SERVER_HOST=127.0.0.1\nSERVER_PORT=${freePort()}\nPERIOD_CHECK=abc\n`);
  writeFileSync(join(dir, ".env.local"), "SMTP_PROT=25\n");
  const r = await clientIn(dir);
  // past the configuration: it tried the (absent) server
  expect(r.code).toBe(3);
  expect(r.stderr).toContain('warning: PERIOD_CHECK="abc" is not valid — use a number of seconds from 1 s to 1 day (the client does not use it; the collector would stop on it)');
  expect(r.stderr).toContain("warning: .env.local: SMTP_PROT is not a Mailer key — did you mean SMTP_PORT? (it is ignored)");
  expect(r.stderr).toContain("cannot reach the Mailer server");
});
