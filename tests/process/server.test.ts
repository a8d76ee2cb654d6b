// End to end: the real server.ts process against a real SMTP server (smtp-server) on loopback,
// driven by the real client code and by raw sockets.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { requestTicket, type TicketOutcome } from "../../lib/client/connection";
import { baseEnv, freePort, REPO, runEntry, startEntry, tempDir } from "../helpers/env";
import { connectLines } from "../helpers/line-client";
import { until } from "../helpers/kit";
import { serverEnv } from "../helpers/hardening";
import { startSmtpSink, type SinkOptions, type SmtpSink } from "../helpers/smtp-sink";
import { readState } from "../helpers/state";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const ADMIN = "admin@mailer.test";
const PASSWORD = "e2e-Secret-Pa55";
const READY = /listening on/;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sink(opts: SinkOptions = {}): Promise<SmtpSink> {
  const s = await startSmtpSink(opts);
  cleanups.push(() => s.close());
  return s;
}

function env(smtpPort: number, stateDir: string, extra: Record<string, string> = {}) {
  return serverEnv(smtpPort, stateDir, PASSWORD, { MAX_CONNECTIONS: "100", SMTP_POOL_SIZE: "2", ...extra });
}

async function server(smtpPort: number, extra: Record<string, string> = {}, args: string[] = []) {
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  const e = env(smtpPort, extra.STATE_DIR ?? dir.path, extra);
  const s = await startEntry("server.ts", args, e, READY);
  cleanups.push(async () => {
    if (s.proc.exitCode === null) await s.stop("SIGKILL");
  });
  return { ...s, env: e, port: Number(e.SERVER_PORT), dir: e.STATE_DIR! };
}

const clientEnv = (port: number) => baseEnv({ SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), MAX_MESSAGE_CHARS: "10000" });
const ok = (o: TicketOutcome) => (o.kind === "reply" && o.reply.status === "OK" ? o.reply.ticket : `not OK: ${JSON.stringify(o)}`);

describe("a ticket through the real client and server", () => {
  test("both messages arrive: From, To (IDN punycoded), Reply-To, subject, UTF-8 body", async () => {
    const smtp = await sink();
    const srv = await server(smtp.port);
    const message = "Привет, мир! 👋🏽\nвторая строка — «ёлка» 🎄";
    const run = await runEntry("client.ts", ["--email", "ivan@пример.рф", "--message", message], clientEnv(srv.port));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Ticket #10001 accepted/);
    const [user, admin] = await smtp.waitFor(2);
    for (const m of [user!, admin!]) {
      expect(m.from).toBe(ADMIN);
      expect(m.parsed.subject).toBe("[Ticket #10001] Mailer");
      expect(m.parsed.text!.trimEnd()).toBe(message);
      expect(m.parsed.from!.value[0]!.address).toBe(ADMIN);
      expect(m.raw.toString()).toMatch(/^Content-Type: text\/plain; charset=utf-8\r$/m);
    }
    expect(user!.raw.toString()).toMatch(/^To: ivan@xn--e1afmkfd\.xn--p1ai\r$/m);
    expect(user!.parsed.replyTo).toBeUndefined();
    expect(admin!.to).toEqual([ADMIN]);
    expect(admin!.raw.toString()).toMatch(/^Reply-To: ivan@xn--e1afmkfd\.xn--p1ai\r$/m);
    // One log line per request, no message text, no password.
    expect(srv.output()).toMatch(/\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1:\d+ OK ticket=10001 admin=sent/);
    expect(srv.output()).not.toContain("Привет");
    expect(srv.output()).not.toContain(PASSWORD);
  }, 20_000);

  test("piped stdin: first line the address, the rest the message", async () => {
    const smtp = await sink();
    const srv = await server(smtp.port);
    const run = await runEntry("client.ts", [], clientEnv(srv.port), "me@example.com\nline one\nline two 👋\n");
    expect(run.code).toBe(0);
    const [user] = await smtp.waitFor(2);
    expect(user!.parsed.text!.trimEnd()).toBe("line one\nline two 👋");
  }, 20_000);

  test("refused recipient: MAIL_FAILED with the SMTP reply, exit 1, and no admin copy", async () => {
    const smtp = await sink({ refuse: (a) => a === "nobody@example.com" });
    const srv = await server(smtp.port);
    const run = await runEntry("client.ts", ["-e", "nobody@example.com", "-m", "hello"], clientEnv(srv.port));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Not accepted (MAIL_FAILED)");
    expect(run.stderr).toContain("550 5.1.1");
    await Bun.sleep(200);
    expect(smtp.messages).toEqual([]);
    expect(srv.output()).toMatch(/ERROR MAIL_FAILED/);
  }, 20_000);

  test("SMTP down: MAIL_FAILED saying so; the server keeps running and recovers", async () => {
    const smtpPort = freePort();
    const srv = await server(smtpPort);
    const first = await requestTicket("127.0.0.1", srv.port, "a@example.com", "hi", 10_000);
    // the person is told what they can do; the server's log says what is wrong
    expect(first).toMatchObject({ kind: "reply", reply: { code: "MAIL_FAILED", error: expect.stringContaining("the support mailbox is not available right now — try again later") } });
    expect(srv.output()).toContain(`ERROR MAIL_FAILED (cannot connect to the SMTP server at 127.0.0.1:${smtpPort}: connection refused`);
    expect(srv.proc.exitCode).toBeNull();
    const smtp = await sink({ port: smtpPort });
    expect(ok(await requestTicket("127.0.0.1", srv.port, "a@example.com", "hi", 10_000))).toMatch(/^\d{5,}$/);
    await smtp.waitFor(2);
  }, 20_000);

  test("a slow SMTP send for one person never holds up the others", async () => {
    // the slow person's mail is held at the SMTP server until the five others are through
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const smtp = await sink({ hold: (rcpt) => (rcpt === "slow@example.com" ? released : undefined) });
    const srv = await server(smtp.port, { SMTP_POOL_SIZE: "3" });
    let slowDone = false;
    const slow = requestTicket("127.0.0.1", srv.port, "slow@example.com", "slow", 30_000).then((o) => ((slowDone = true), o));
    await until(() => smtp.delaying > 0, 10_000, "the slow mail at the SMTP server");
    for (let i = 0; i < 5; i++) {
      expect(ok(await requestTicket("127.0.0.1", srv.port, `fast${i}@example.com`, "fast", 10_000))).toMatch(/^\d{5,}$/);
    }
    expect(slowDone).toBe(false); // five tickets went through while the slow one was still sending
    release();
    expect(ok(await slow)).toMatch(/^\d{5,}$/);
  }, 20_000);

  test("client exit codes 2 (usage, configuration) and 3 (no server); --help is 0", async () => {
    const bad = await runEntry("client.ts", ["--frobnicate"], clientEnv(1));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option --frobnicate");
    const conf = await runEntry("client.ts", ["-e", "a@example.com", "-m", "x"], baseEnv({ SERVER_PORT: "seventy" }));
    expect(conf.code).toBe(2);
    expect(conf.stderr).toContain('SERVER_PORT="seventy" is not valid');
    const port = freePort();
    const down = await runEntry("client.ts", ["-e", "a@example.com", "-m", "x"], clientEnv(port));
    expect(down.code).toBe(3);
    expect(down.stderr.trim()).toBe(`cannot reach the Mailer server at 127.0.0.1:${port} (connection refused) — is it running there (\`bun server.ts\` or mailer-server)?`);
    const local = await runEntry("client.ts", ["-e", "not-an-address", "-m", "x"], clientEnv(port));
    expect(local.code).toBe(1); // checked locally, before any connection
    expect(local.stderr).toContain("has no @");
    const help = await runEntry("client.ts", ["--help"], clientEnv(port));
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit codes:");
  }, 20_000);
});

describe("the wire protocol against the real server", () => {
  test("every error code: INVALID_EMAIL, INVALID_MESSAGE, BAD_REQUEST, TOO_LARGE, RATE_LIMITED, MAIL_FAILED, INTERNAL, BUSY", async () => {
    const smtp = await sink({ refuse: (a) => a.startsWith("nobody@") });
    const srv = await server(smtp.port, { RATE_LIMIT_PER_MINUTE: "2", MAX_REQUEST_BYTES: "1024", MAX_MESSAGE_CHARS: "50", MAX_CONNECTIONS: "1" });
    const c = await connectLines(srv.port);
    cleanups.push(() => c.destroy());
    const lines = [
      { email: "bad", message: "x" },
      { email: "a@example.com", message: "x".repeat(51) },
      { email: "a@example.com" },
      { email: "nobody@example.com", message: "x" },
      { email: "a@example.com", message: "x" },
      { email: "b@example.com", message: "x" },
    ].map((r) => JSON.stringify(r) + "\n");
    await c.write(lines.join("") + "\n" + "not json\n");
    const replies = (await c.waitLines(7)).map((l) => JSON.parse(l));
    expect(replies.map((r) => r.code ?? r.status)).toEqual(["INVALID_EMAIL", "INVALID_MESSAGE", "BAD_REQUEST", "MAIL_FAILED", "OK", "RATE_LIMITED", "BAD_REQUEST"]);
    expect(replies[5]).toMatchObject({ retryAfter: expect.any(Number), error: expect.stringMatching(/try again in \d+ (seconds?|minutes)/) });
    expect(replies[1].field).toBe("message");

    // MAX_CONNECTIONS=1: a second connection gets BUSY.
    const second = await connectLines(srv.port);
    cleanups.push(() => second.destroy());
    expect(JSON.parse((await second.waitLines(1))[0]!)).toMatchObject({ code: "BUSY" });
    const busy = await runEntry("client.ts", ["-e", "a@example.com", "-m", "x"], clientEnv(srv.port));
    expect(busy.code).toBe(3);

    await c.write("y".repeat(5000));
    expect(JSON.parse((await c.waitLines(8))[7]!)).toMatchObject({ code: "TOO_LARGE" });
    expect(await c.waitClosed()).toBe(true);

    // INTERNAL: the store cannot be written (the database made read-only under the server).
    const smtp2 = await sink();
    const srv2 = await server(smtp2.port);
    const db = new Database(join(srv2.dir, "mailer.db"));
    db.run("CREATE TRIGGER no_tickets BEFORE UPDATE ON sequence BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END");
    db.close();
    const internal = await requestTicket("127.0.0.1", srv2.port, "a@example.com", "x", 10_000);
    expect(internal).toMatchObject({ kind: "reply", reply: { code: "INTERNAL" } });
    expect(srv2.output()).toContain("cannot issue a ticket");
    expect(smtp2.messages).toEqual([]);
  }, 30_000);

  test("TOO_LARGE reaches a client that is still sending megabytes (no reset destroys the reply)", async () => {
    const smtp = await sink();
    const srv = await server(smtp.port, { MAX_REQUEST_BYTES: "1024" });
    for (let round = 0; round < 3; round++) {
      const c = await connectLines(srv.port);
      cleanups.push(() => c.destroy());
      c.socket.on("error", () => {});
      const chunk = new Uint8Array(1 << 20).fill(0x41);
      let sent = 0;
      const pump = () => {
        while (sent < 30 && !c.closed() && c.socket.write(chunk)) sent++;
        if (sent < 30 && !c.closed()) c.socket.once("drain", () => (sent++, pump()));
      };
      pump();
      expect(await c.waitClosed(10_000)).toBe(true);
      expect(c.lines().map((l) => JSON.parse(l).code)).toEqual(["TOO_LARGE"]);
    }
  }, 30_000);

  test("a half-closed client (printf … | nc -N) gets its reply", async () => {
    const smtp = await sink({ delayMs: 100 });
    const srv = await server(smtp.port);
    const c = await connectLines(srv.port);
    cleanups.push(() => c.destroy());
    await c.write(JSON.stringify({ email: "a@example.com", message: "half-closed" }) + "\n");
    c.end();
    expect(JSON.parse((await c.waitLines(1))[0]!)).toEqual({ status: "OK", ticket: "10001" });
    expect(await c.waitClosed()).toBe(true);
  }, 20_000);

  test("SIGTERM: the request in flight is answered, then exit 0", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const smtp = await sink({ hold: () => released });
    const srv = await server(smtp.port);
    const pending = requestTicket("127.0.0.1", srv.port, "a@example.com", "in flight", 30_000);
    // in flight for sure: its mail is held at the SMTP server when the signal comes
    await until(() => smtp.delaying > 0, 10_000, "the mail at the SMTP server");
    const stopping = srv.stop("SIGTERM");
    await until(() => srv.output().includes("SIGTERM: no new connections"), 10_000, "the clean stop to begin");
    release();
    const code = await stopping;
    expect(code).toBe(0);
    expect(ok(await pending)).toBe("10001");
    expect(srv.output()).toContain("SIGTERM: no new connections");
  }, 20_000);

  test("a signal at the very moment the readiness line appears stops cleanly (the handlers are in place before the line)", async () => {
    const smtp = await sink();
    for (let i = 0; i < 6; i++) {
      const dir = tempDir();
      cleanups.push(dir.cleanup);
      const proc = Bun.spawn(["bun", "server.ts"], { cwd: REPO, env: env(smtp.port, dir.path), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const reader = proc.stdout.getReader();
      let seen = "";
      while (!seen.includes("listening on")) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
      proc.kill("SIGHUP"); // at once, as a supervisor that waits for the line would
      void (async () => {
        while (!(await reader.read()).done); // the rest of its output
      })();
      expect(await proc.exited).toBe(0); // not 129: killed before its handler was there
    }
  }, 60_000);

  test("SIGHUP stops as cleanly as SIGTERM; a second signal during the stop exits 130 at once", async () => {
    const quick = await server((await sink()).port);
    expect(await quick.stop("SIGHUP")).toBe(0);
    expect(quick.output()).toContain("SIGHUP: no new connections");

    // the SMTP answer is held for longer than the test: a stop that waited for it would not end in time
    const smtp = await sink({ delayMs: 60_000 });
    const srv = await server(smtp.port);
    const inFlight = requestTicket("127.0.0.1", srv.port, "a@example.com", "in flight", 30_000);
    // no sleeps: each step waits for the state it needs, however slow the machine
    await until(() => smtp.delaying > 0, 10_000, "the person's mail at the SMTP server");
    srv.proc.kill("SIGTERM");
    await until(() => srv.output().includes("SIGTERM: no new connections"), 10_000, "the clean stop to begin");
    expect(await srv.stop("SIGINT")).toBe(130);
    expect(srv.output()).toContain("SIGINT again: exiting at once");
    // it did not wait for the mail in flight: that request was never answered
    expect(await inFlight).toMatchObject({ kind: "unreachable", error: expect.stringContaining("closed the connection without answering") });
  }, 20_000);
});

describe("state: several servers on one STATE_DIR, numbers across restarts", () => {
  test("two servers share one STATE_DIR: one sequence, no number twice; after kill -9 the numbers go on", async () => {
    const smtp = await sink();
    const first = await server(smtp.port);
    const second = await server(smtp.port, { STATE_DIR: first.dir });
    const both = await Promise.all(
      Array.from({ length: 20 }, (_, i) => requestTicket("127.0.0.1", i % 2 ? second.port : first.port, "a@example.com", `n${i}`, 10_000)),
    );
    const numbers = both.map(ok).map(Number);
    expect(new Set(numbers).size).toBe(20);
    expect(Math.min(...numbers)).toBe(10001);
    await first.stop("SIGKILL");
    const after = Number(ok(await requestTicket("127.0.0.1", second.port, "a@example.com", "after", 10_000)));
    expect(after).toBeGreaterThan(Math.max(...numbers));
    expect(await second.stop("SIGTERM")).toBe(0);
    const third = await server(smtp.port, { STATE_DIR: first.dir });
    expect(ok(await requestTicket("127.0.0.1", third.port, "a@example.com", "3", 10_000))).toBe(String(after + 1));
  }, 30_000);
});

describe("the admin's copy", () => {
  test("refused for a while (4xx): client gets OK, the copy is queued and delivered once by the retry", async () => {
    let refusals = 0;
    const smtp = await sink({ refuse: (a) => (a === ADMIN && refusals++ < 2 ? 451 : false) });
    const srv = await server(smtp.port, { OUTBOX_RETRY: "0.3" });
    expect(ok(await requestTicket("127.0.0.1", srv.port, "a@example.com", "queued copy", 10_000))).toBe("10001");
    expect(srv.output()).toMatch(/OK ticket=10001 admin=queued/);
    const msgs = await smtp.waitFor(2, 10_000);
    await Bun.sleep(800); // a few more retry rounds: nothing more may arrive
    expect(smtp.messages.length).toBe(2);
    expect(msgs[1]!.to).toEqual([ADMIN]);
    expect(msgs[1]!.parsed.replyTo!.text).toBe("a@example.com");
    await srv.stop("SIGTERM");
    expect((await readState(srv.dir)).outbox).toMatchObject({ ready: 0, held: 0, sending: 0, dead: 0 });
  }, 20_000);

  test("refused permanently (5xx): client gets OK, a dead letter is reported loudly and kept", async () => {
    const smtp = await sink({ refuse: (a) => a === ADMIN });
    const srv = await server(smtp.port, { OUTBOX_RETRY: "0.3" });
    expect(ok(await requestTicket("127.0.0.1", srv.port, "a@example.com", "dead", 10_000))).toBe("10001");
    expect(srv.output()).toMatch(/DEAD LETTER: the admin copy of ticket 10001 .*550 5\.1\.1/);
    expect(srv.output()).toMatch(/OK ticket=10001 admin=dead/);
    await srv.stop("SIGTERM");
    expect((await readState(srv.dir)).outbox.deadLetters).toMatchObject([{ ticket: "10001", to: ADMIN, lastError: expect.stringContaining("550") }]);
    expect(await srv.stop("SIGTERM")).toBe(0);
    // Reported again at the next start.
    const again = await server(smtp.port, { STATE_DIR: srv.dir });
    expect(again.output()).toMatch(/WARNING: dead letter .* ticket 10001/);
  }, 20_000);
});

describe("SMTP login, TLS and --debug", () => {
  const fixtures = join(REPO, "tests/fixtures/tls");
  const tls = { key: readFileSync(join(fixtures, "server.key"), "utf8"), cert: readFileSync(join(fixtures, "server.pem"), "utf8") };

  test("wrong password: the person gets MAIL_FAILED 'not available'; the server's log names EMAIL_LOGIN, never the password; --debug shows the conversation redacted", async () => {
    const smtp = await sink({ auth: { user: ADMIN, pass: "the-right-one" } });
    const srv = await server(smtp.port, {}, ["--debug"]);
    const run = await runEntry("client.ts", ["-e", "a@example.com", "-m", "x"], clientEnv(srv.port));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Not accepted (MAIL_FAILED): your message was not sent: the support mailbox is not available right now — try again later");
    expect(run.stderr).not.toContain("EMAIL_PASSWORD"); // a sentence for the operator, not for the person
    expect(srv.output()).toContain(`refused the login for EMAIL_LOGIN=${ADMIN}`);
    expect(srv.output()).toContain("check EMAIL_PASSWORD");
    const everything = run.stdout + run.stderr + srv.output();
    expect(srv.output()).toContain("[smtp");
    expect(srv.output()).toMatch(/AUTH PLAIN/);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(Buffer.from(`\0${ADMIN}\0${PASSWORD}`).toString("base64"));
  }, 20_000);

  test("STARTTLS with a private CA: refused without TLS_CA_FILE (with the hint), accepted with it", async () => {
    const smtp = await sink({ tls, auth: { user: ADMIN, pass: PASSWORD } });
    const without = await server(smtp.port);
    const refused = await requestTicket("127.0.0.1", without.port, "a@example.com", "x", 10_000);
    expect(refused).toMatchObject({ kind: "reply", reply: { code: "MAIL_FAILED", error: expect.stringContaining("the support mailbox is not available right now — try again later") } });
    expect(without.output()).toContain("set TLS_CA_FILE");
    const withCa = await server(smtp.port, { TLS_CA_FILE: join(fixtures, "ca.pem"), SMTP_SECURE: "starttls" });
    expect(ok(await requestTicket("127.0.0.1", withCa.port, "a@example.com", "x", 10_000))).toBe("10001");
    await smtp.waitFor(2);
  }, 20_000);

  test("server configuration errors exit 2 with every problem named; --help exits 0", async () => {
    const run = await runEntry("server.ts", [], baseEnv({ EMAIL_LOGIN: "", EMAIL_PASSWORD: "", SMTP_HOST: "", SMTP_PORT: "x", SERVER_PORT: "70000" }));
    expect(run.code).toBe(2);
    for (const key of ["EMAIL_LOGIN", "EMAIL_PASSWORD", "SMTP_HOST", "SMTP_PORT", "SERVER_PORT"]) expect(run.stderr).toContain(key);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const missingCa = await runEntry("server.ts", [], env(2525, "/tmp/none", { TLS_CA_FILE: "/nonexistent/ca.pem" }));
    expect(missingCa.code).toBe(2);
    expect(missingCa.stderr).toContain("TLS_CA_FILE=/nonexistent/ca.pem cannot be read");
    const help = await runEntry("server.ts", ["--help"], baseEnv());
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--debug");
  }, 20_000);
});
