// The command-line surface every program and script shares (lib/shared/args.ts): --help prints
// the usage and exits 0 without starting anything, --version prints the package version, and
// an unknown option gives the one usage-error line with exit 2.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import pkg from "../../package.json" with { type: "json" };
import { baseEnv, REPO } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const PROGRAMS = ["client.ts", "server.ts", "collector.ts", "scripts/sandbox.ts", "scripts/dev.ts", "scripts/demo.ts", "scripts/oauth-login.ts", "scripts/state.ts", "web.ts", "bench/run.ts"];

/** --help must not start anything: a program that starts a server or the sandbox would still run after this. */
const PROMPTLY_MS = 5_000;

async function run(program: string, args: string[]) {
  // An environment with no configuration at all: a program that got past its command line
  // and tried to start would fail or hang, not print its usage.
  const proc = Bun.spawn(["bun", "--no-env-file", program, ...args], { cwd: REPO, env: baseEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, PROMPTLY_MS);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, killed };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe.each(PROGRAMS)("%s", (program) => {
  test("--help prints the usage, exits 0 by itself and starts nothing", async () => {
    const r = await run(program, ["--help"]);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage");
    expect(r.stderr).toBe("");
  });

  test("-h is --help", async () => {
    const r = await run(program, ["-h"]);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage");
  });

  test("--version prints mailer <version>", async () => {
    const r = await run(program, ["--version"]);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`mailer ${pkg.version}\n`);
  });

  test("an unknown option: one usage-error line, exit 2, nothing started", async () => {
    const r = await run(program, ["--no-such-option"]);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${escape(program)}: unknown option --no-such-option — Try: bun ${escape(program)} --help$`));
  });
});
