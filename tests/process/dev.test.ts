// `bun run dev`: the three parts in one terminal, prefixed output, Ctrl-C stops all.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openCollectorState } from "../helpers/state";
import { probePort } from "../../lib/sandbox";
import { REPO, runEntry, tempDir, sandboxEnv } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function devEnv() {
  const dir = tempDir("mailer-dev-");
  cleanups.push(dir.cleanup);
  return sandboxEnv(dir.path, { PERIOD_CHECK: "60" });
}

function startDev(env: Record<string, string>) {
  const proc = Bun.spawn(["bun", "--no-env-file", "scripts/dev.ts"], { cwd: REPO, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  cleanups.push(() => { proc.kill("SIGKILL"); });
  let out = "";
  const decoder = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => { for await (const c of s) out += decoder.decode(c, { stream: true }); };
  const done = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  return {
    proc,
    output: () => out,
    done,
    async waitFor(pattern: RegExp, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no ${pattern} in dev output:\n${out}`);
        await Bun.sleep(20);
      }
    },
  };
}

const portsFree = (env: Record<string, string>) => Promise.all(["SMTP_PORT", "IMAP_PORT", "SERVER_PORT", "SANDBOX_WEB_PORT", "WEB_PORT"].map((k) => probePort("127.0.0.1", Number(env[k]))));

test("dev runs sandbox, server and collector with prefixed output; a client's ticket arrives; SIGINT stops all", async () => {
  const env = devEnv();
  const dev = startDev(env);
  await dev.waitFor(/\[dev\] ready/);
  await dev.waitFor(/\[collector\] \S+Z Mailer collector watching/); // (collector lines carry a timestamp)
  // the printed URLs answer: the web form + dashboard, and the sandbox's web inbox
  expect(dev.output()).toContain(`http://127.0.0.1:${env.WEB_PORT}/`);
  expect(dev.output()).toContain(`http://127.0.0.1:${env.SANDBOX_WEB_PORT}/`);
  expect((await fetch(`http://127.0.0.1:${env.WEB_PORT}/new`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${env.SANDBOX_WEB_PORT}/api/messages`)).status).toBe(200);
  const client = await runEntry("client.ts", ["-e", "olga@example.com", "-m", "Привет из второго терминала"], env);
  expect(client.code).toBe(0);
  const ticket = client.stdout.match(/Ticket #(\d{5,})/)?.[1];
  await dev.waitFor(new RegExp(`\\[sandbox\\] mail to olga@example.com: "\\[Ticket #${ticket}\\] Mailer" — Привет из второго терминала`));
  await dev.waitFor(new RegExp(`\\[server\\] .*OK ticket=${ticket}`));
  const log = join(env.LOG_DIR!, "success_request.log");
  const deadline = Date.now() + 10_000;
  while (!(existsSync(log) && readFileSync(log, "utf8").includes(`"ticket":"${ticket}"`)) && Date.now() < deadline) await Bun.sleep(50);
  expect(readFileSync(log, "utf8")).toContain(`"ticket":"${ticket}"`);

  dev.proc.kill("SIGINT");
  expect(await dev.proc.exited).toBe(0);
  await dev.done;
  expect(dev.output()).toContain("[dev] stopped");
  // One SIGTERM each: both stop gracefully, neither sees a "second signal"
  expect(dev.output()).toMatch(/\[collector\] \S+Z SIGTERM: finishing the message in hand/);
  expect(dev.output()).not.toContain("second signal");
  expect(await portsFree(env)).toEqual([null, null, null, null, null]);
}, 40_000);

test("a part that stops on its own: dev shows its last output, stops the rest and exits 1", async () => {
  const env = devEnv();
  // Another collector holds LOG_DIR, so dev's collector refuses to start
  const other = await openCollectorState(env.LOG_DIR!, env.STATE_DIR!);
  cleanups.push(() => other.close());
  const dev = startDev(env);
  expect(await dev.proc.exited).toBe(1);
  await dev.done;
  expect(dev.output()).toContain("✗ collector stopped unexpectedly (exit 2)");
  expect(dev.output()).toMatch(/--- last \d+ lines? of collector output \(exit 2\) ---\n {2}.*another Mailer collector is already writing LOG_DIR/);
  expect(dev.output()).toContain("[dev] stopped");
  expect(await portsFree(env)).toEqual([null, null, null, null, null]);
}, 30_000);
