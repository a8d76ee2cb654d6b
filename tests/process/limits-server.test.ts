// Limits of the real server.ts process not proven elsewhere end to end: where it binds by
// default (and the warning when it binds a public address), the per-recipient hourly limit,
// and a flood of connections over MAX_CONNECTIONS. (TOO_LARGE, BUSY, RATE_LIMITED per client
// and the idle timeout of a real process are in tests/server.test.ts and tests/fuzz-server.test.ts.)
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { requestTicket } from "../../lib/client/connection";
import { baseEnv, freePort, REPO, tempDir } from "../helpers/env";
import { startServer, until } from "../helpers/hardening";
import { connectLines, type LineClient } from "../helpers/line-client";
import { startSmtpSink } from "../helpers/smtp-sink";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Local addresses (hex, as in /proc/net/tcp) listening on `port`. */
function listeningOn(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A") // 0A = LISTEN
    .map((f) => f[1]!.split(":")[0]!);
}

/** server.ts run from a directory without .env, so the built-in defaults apply. */
async function bareServer(env: Record<string, string>) {
  const cwd = tempDir("mailer-bare-");
  cleanups.push(cwd.cleanup);
  const proc = Bun.spawn(["bun", join(REPO, "server.ts")], { cwd: cwd.path, env, stdout: "pipe", stderr: "pipe" });
  cleanups.push(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  let out = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out += new TextDecoder().decode(c);
  };
  void read(proc.stdout);
  void read(proc.stderr);
  await until(() => /listening on/.test(out) || proc.exitCode !== null, 10_000, "the readiness line");
  await Bun.sleep(100); // the warning is printed right after the readiness line
  return { proc, output: () => out };
}

describe("where the server listens", () => {
  test("by default 127.0.0.1 only, and quietly; 0.0.0.0 prints a warning naming the limits in force", async () => {
    const smtp = await startSmtpSink();
    cleanups.push(() => smtp.close());
    const port = freePort();
    const keys = { EMAIL_LOGIN: "admin@mailer.test", EMAIL_PASSWORD: "pw", SMTP_HOST: "127.0.0.1", SMTP_PORT: String(smtp.port), SERVER_PORT: String(port) };
    const state = tempDir("mailer-bind-");
    cleanups.push(state.cleanup);

    const local = await bareServer(baseEnv({ ...keys, STATE_DIR: join(state.path, "a") }));
    expect(local.output()).toContain(`listening on 127.0.0.1:${port}`);
    expect(listeningOn(port)).toEqual(["0100007F"]); // 127.0.0.1, nothing else
    expect(local.output()).not.toContain("WARNING");
    local.proc.kill("SIGTERM");
    await local.proc.exited;

    const port2 = freePort();
    const open = await bareServer(baseEnv({ ...keys, SERVER_PORT: String(port2), SERVER_HOST: "0.0.0.0", STATE_DIR: join(state.path, "b") }));
    expect(listeningOn(port2)).toEqual(["00000000"]);
    const warning = open.output().split("\n").find((l) => l.startsWith("WARNING: listening on 0.0.0.0"));
    expect(warning).toBeDefined();
    // the defaults in force, by name
    for (const limit of ["RATE_LIMIT_PER_MINUTE=30", "RECIPIENT_LIMIT_PER_HOUR=10", "MAX_CONNECTIONS=10000", "MAX_REQUEST_BYTES=65536", "IDLE_TIMEOUT=30 s"]) expect(warning).toContain(limit);
  }, 30_000);
});

describe("per-recipient and connection limits", () => {
  test("RECIPIENT_LIMIT_PER_HOUR: the third ticket for one address (any case, any client) is RATE_LIMITED with retryAfter; other addresses go on", async () => {
    const smtp = await startSmtpSink();
    cleanups.push(() => smtp.close());
    const srv = await startServer(cleanups, smtp.port, "pw", { RECIPIENT_LIMIT_PER_HOUR: "2", RATE_LIMIT_PER_MINUTE: "0" });
    const ask = (email: string) => requestTicket("127.0.0.1", srv.port, email, "hello", 10_000);
    expect(await ask("same@example.com")).toMatchObject({ reply: { status: "OK" } });
    expect(await ask("Same@EXAMPLE.com")).toMatchObject({ reply: { status: "OK" } });
    const limited = await ask("same@example.com");
    // read before toMatchObject: in Bun 1.4.4 toMatchObject writes its asymmetric matchers
    // (expect.any) into the object it checks
    if (limited.kind !== "reply" || limited.reply.status !== "ERROR") throw new Error(`expected RATE_LIMITED, got ${JSON.stringify(limited)}`);
    const r = { ...limited.reply, retryAfter: limited.reply.retryAfter ?? -1 };
    expect(r).toMatchObject({ code: "RATE_LIMITED", field: "email" });
    expect(r.retryAfter).toBeGreaterThan(3500);
    expect(r.retryAfter).toBeLessThanOrEqual(3600);
    expect(r.error).toMatch(/limit 2 tickets per hour per address.*try again in (59|60) minutes/);
    expect(await ask("other@example.com")).toMatchObject({ reply: { status: "OK" } });
    await smtp.waitFor(6);
    await Bun.sleep(100);
    expect(smtp.messages.length).toBe(6); // the refused request sent nothing
  }, 20_000);

  test("MAX_CONNECTIONS=5 under a flood of 60 connections: every excess one gets BUSY and is closed; the 5 are served", async () => {
    const smtp = await startSmtpSink();
    cleanups.push(() => smtp.close());
    const srv = await startServer(cleanups, smtp.port, "pw", { MAX_CONNECTIONS: "5" });
    const held: LineClient[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await connectLines(srv.port);
      cleanups.push(() => c.destroy());
      held.push(c);
    }
    // the server counts a connection once it has seen it: wait until all five are in
    await held[4]!.write("\n");
    await Bun.sleep(100);
    const flood = await Promise.all(Array.from({ length: 60 }, () => connectLines(srv.port)));
    for (const c of flood) cleanups.push(() => c.destroy());
    for (const c of flood) {
      expect(await c.waitClosed(5000)).toBe(true);
      expect(c.lines().map((l) => JSON.parse(l).code)).toEqual(["BUSY"]);
    }
    for (const [i, c] of held.entries()) await c.write(JSON.stringify({ email: `held${i}@example.com`, message: "x" }) + "\n");
    for (const c of held) expect(JSON.parse((await c.waitLines(1))[0]!)).toMatchObject({ status: "OK" });
    // one line each, the repeated ones summarised (the first 5 in full, the rest counted; the count comes at the stop)
    expect(await srv.stop("SIGTERM")).toBe(0);
    const busy = srv.output().split("\n").filter((l) => l.includes("ERROR BUSY"));
    const counted = busy.map((l) => Number(/ ×(\d+) more/.exec(l)?.[1] ?? 1)).reduce((a, b) => a + b, 0);
    expect(busy.length).toBeLessThanOrEqual(6);
    expect(counted).toBe(60);
  }, 30_000);
});
