// The client as scripts and people meet it (docs/client.md "Client"): --json prints exactly one JSON line
// on stdout with the same exit codes, client-side errors in the server's error shape; questions
// go to stderr so `bun client.ts > file` keeps only the result; empty piped input says what the
// input must contain. A scripted stand-in answers on the wire, so each reply is exactly known.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import { baseEnv, freePort, REPO, runEntry } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

/** A one-reply-per-line server answering every request with `reply`. */
function standIn(reply: object): number {
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (s, chunk) => void (new TextDecoder().decode(chunk).includes("\n") && s.write(JSON.stringify(reply) + "\n")) },
  });
  stops.push(() => server.stop(true));
  return server.port;
}

const env = (port: number) => baseEnv({ SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port) });
const client = (port: number, args: string[], stdin?: string) => runEntry("client.ts", args, env(port), stdin);
const lines = (s: string) => s.split("\n").filter((l) => l !== "");

test("--json: exactly one JSON line on stdout for OK, a server refusal, unreachable, a local refusal and a usage error; exit codes unchanged", async () => {
  const ok = await client(standIn({ status: "OK", ticket: "10001" }), ["--json", "-e", "ivan@example.com", "-m", "hi"]);
  expect([ok.code, lines(ok.stdout)]).toEqual([0, ['{"status":"OK","ticket":"10001"}']]);

  const limited = { status: "ERROR", code: "RATE_LIMITED", error: "too many tickets — try again in 3569 seconds", retryAfter: 3569 };
  const refused = await client(standIn(limited), ["--json", "-e", "ivan@example.com", "-m", "hi"]);
  expect(refused.code).toBe(1);
  expect(lines(refused.stdout).map((l) => JSON.parse(l))).toEqual([limited]);

  const down = await client(freePort(), ["--json", "-e", "ivan@example.com", "-m", "hi"]);
  expect(down.code).toBe(3);
  expect(lines(down.stdout).map((l) => JSON.parse(l))).toEqual([{ status: "ERROR", code: "UNREACHABLE", error: expect.stringContaining("cannot reach") }]);

  const local = await client(freePort(), ["--json", "-e", "ivan@", "-m", "hi"]);
  expect(local.code).toBe(1);
  expect(lines(local.stdout).map((l) => JSON.parse(l))).toEqual([{ status: "ERROR", code: "INVALID_EMAIL", field: "email", error: expect.stringContaining("after the @") }]);

  const usage = await client(freePort(), ["--json", "--frobnicate"]);
  expect(usage.code).toBe(2);
  expect(lines(usage.stdout).map((l) => JSON.parse(l))).toEqual([{ status: "ERROR", code: "USAGE", error: expect.stringContaining("unknown option --frobnicate") }]);
});

test("without --json a refusal's wait is said in words", async () => {
  const r = await client(standIn({ status: "ERROR", code: "RATE_LIMITED", error: "too many tickets — try again in 3569 seconds", retryAfter: 3569 }), ["-e", "ivan@example.com", "-m", "hi"]);
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe("Not accepted (RATE_LIMITED): too many tickets — try again in 59 minutes");
});

test("empty piped input: exit 2, saying what the input must contain", async () => {
  for (const input of ["", "\n  \n"]) {
    const r = await client(freePort(), [], input);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("its first line must be your email address and the lines after it your message");
    expect(r.stderr).not.toContain("type your address");
  }
});

test.skipIf(spawnSync("script", ["--version"]).status !== 0)("interactive on a terminal: the questions go to stderr, stdout holds only the result", async () => {
  const port = standIn({ status: "OK", ticket: "10042" });
  // `script` gives the client a terminal; its stderr is sent away, so what the terminal shows is stdout only
  const proc = Bun.spawn(["script", "-qefc", `bun --no-env-file client.ts 2>/dev/null`, "/dev/null"], {
    cwd: REPO,
    env: env(port),
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  // typed ahead: the terminal keeps what was typed until the client reads it; stdin stays open
  // until the client is done (its end would reach the client as a Ctrl-D)
  for (const answer of ["ivan@example.com\r", "hello\r", "\r"]) {
    await Bun.sleep(100);
    proc.stdin.write(answer);
  }
  const [out, code] = [await new Response(proc.stdout).text(), await proc.exited];
  proc.stdin.end();
  clearTimeout(timer);
  expect(code).toBe(0);
  // the terminal echoes what was typed; no question and no banner reached it
  expect(out).toContain("Ticket #10042 accepted");
  expect(out).not.toContain("Your email address");
  expect(out).not.toContain("Mailer — send a message");
}, 30_000);
