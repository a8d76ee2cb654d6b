// web.ts as a real process: --help/--version, the configuration refusals (exit 2, by name),
// the exposure warning, a taken port, the readiness line, a clean stop.
import { expect, test, setDefaultTimeout } from "bun:test";
import { loadConfig } from "../../lib/shared/config";
import { baseEnv, freePort, runEntry, startEntry, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const env = (extra: Record<string, string> = {}) => baseEnv({ LOG_DIR: tempDir("mailer-webcli-").path, WEB_PORT: String(freePort()), ...extra });

test("--help and --version answer at once; an unknown option is a usage error", async () => {
  const help = await runEntry("web.ts", ["--help"], env());
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage: bun web.ts");
  expect((await runEntry("web.ts", ["--version"], env())).stdout).toMatch(/^mailer \d/);
  const bad = await runEntry("web.ts", ["--port", "1"], env());
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("web.ts: unknown option --port — Try: bun web.ts --help");
});

test("bound beyond loopback without WEB_PASSWORD it refuses to start (exit 2, says which key)", async () => {
  const run = await runEntry("web.ts", [], env({ WEB_HOST: "0.0.0.0" }));
  expect(run.code).toBe(2);
  expect(run.stderr).toContain("WEB_HOST=0.0.0.0");
  expect(run.stderr).toContain("WEB_PASSWORD must be set");
});

test("every web key is checked by name, all at once", () => {
  const result = loadConfig({ WEB_PORT: "http", SANDBOX_WEB_PORT: "70000", WEB_FRONTEND_SECRET: "tiny-Qz9", WEB_HOST: "192.0.2.1" }, "web");
  expect(result.ok).toBe(false);
  const errors = (result as { errors: string[] }).errors.join("\n");
  for (const key of ["WEB_PORT", "WEB_FRONTEND_SECRET", "WEB_PASSWORD"]) expect(errors).toContain(key);
  // the sandbox's key is not the web program's: for it a malformed one is a warning (issue 17)
  expect(result.warnings.join("\n")).toContain("SANDBOX_WEB_PORT");
  expect(errors).not.toContain("tiny-Qz9"); // a secret, even a bad one, is never echoed
  const ok = loadConfig({}, "web");
  expect(ok).toMatchObject({ ok: true, config: { webHost: "127.0.0.1", webPort: 8026, sandboxWebPort: 8025, webPassword: null, webFrontendSecret: null } });
});

test("exposed with a password: it starts, prints its URL and the exposure warning, never the password", async () => {
  const e = env({ WEB_HOST: "0.0.0.0", WEB_PASSWORD: "pw-never-printed-123" });
  const web = await startEntry("web.ts", [], e, /dashboard on/);
  await Bun.sleep(100);
  expect(web.output()).toContain(`Mailer dashboard on http://0.0.0.0:${e.WEB_PORT}/`);
  expect(web.output()).toContain("WARNING: the dashboard and form listen on 0.0.0.0");
  expect(web.output()).not.toContain("pw-never-printed-123");
  const res = await fetch(`http://127.0.0.1:${e.WEB_PORT}/`);
  expect(res.status).toBe(401);
  expect(await web.stop()).toBe(0);
});

test("a taken WEB_PORT: exit 2 naming WEB_HOST:WEB_PORT", async () => {
  const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  try {
    const run = await runEntry("web.ts", [], env({ WEB_PORT: String(taken.port) }));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`WEB_HOST:WEB_PORT 127.0.0.1:${taken.port} is already in use`);
  } finally {
    taken.stop(true);
  }
});
