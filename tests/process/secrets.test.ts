// The password never appears in any output, log or state file — with and without --debug,
// on success and on every failure path: server.ts through a successful send, a refused login,
// an untrusted certificate and a TLS mismatch; collector.ts through a good login and a wrong
// one. Every stdout/stderr and every file under LOG_DIR and STATE_DIR is searched for the
// password, its SASL base64 forms (lib/redact.ts secretForms), and the escaped forms a
// protocol log could show (JSON, IMAP quoted string). And .env.local is ignored by git.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { secretForms } from "../../lib/shared/redact";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, REPO, runEntry, startEntry, tempDir } from "../helpers/env";
import { ADMIN, startServer } from "../helpers/hardening";
import { startSmtpSink } from "../helpers/smtp-sink";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

// Distinctive, and with the characters that protocols escape (" and \).
const PASSWORD = 'Zq"7\\vault-QRSTU-9p';
const CORE = "vault-QRSTU"; // any partial or re-encoded leak that keeps the letters shows up too
const FORMS = [
  ...secretForms(ADMIN, PASSWORD),
  CORE,
  JSON.stringify(PASSWORD).slice(1, -1), // as inside a JSON string
  PASSWORD.replace(/(["\\])/g, "\\$1"), // as inside an IMAP/SMTP quoted string
  Buffer.from(CORE).toString("base64").slice(0, 12),
  encodeURIComponent(PASSWORD),
];

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Every regular file below `dir`, as text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: p, text: readFileSync(p, "latin1") + readFileSync(p, "utf8") });
    }
  };
  walk(dir);
  return out;
}

function expectNoSecret(where: string, text: string) {
  for (const form of FORMS) if (text.includes(form)) throw new Error(`the password (form ${JSON.stringify(form)}) appears in ${where}:\n${text.slice(Math.max(0, text.indexOf(form) - 200), text.indexOf(form) + 100)}`);
}

const fixtures = join(REPO, "tests/fixtures/tls");
const tls = { key: readFileSync(join(fixtures, "server.key"), "utf8"), cert: readFileSync(join(fixtures, "server.pem"), "utf8") };

describe("the password never appears", () => {
  test("server.ts (--debug and not): successful send, refused login, untrusted certificate, TLS mismatch", async () => {
    const cases: { name: string; sink: Parameters<typeof startSmtpSink>[0]; extra?: Record<string, string>; args: string[]; expect: RegExp }[] = [
      { name: "successful send", sink: { auth: { user: ADMIN, pass: PASSWORD } }, args: ["--debug"], expect: /^OK$/ },
      { name: "refused login", sink: { auth: { user: ADMIN, pass: "another-password" } }, args: ["--debug"], expect: /refused the login/ },
      { name: "refused login, no --debug", sink: { auth: { user: ADMIN, pass: "another-password" } }, args: [], expect: /refused the login/ },
      { name: "untrusted certificate", sink: { tls, auth: { user: ADMIN, pass: PASSWORD } }, args: ["--debug"], expect: /certificate/ },
      { name: "TLS mismatch (implicit TLS to a plain port)", sink: { auth: { user: ADMIN, pass: PASSWORD } }, extra: { SMTP_SECURE: "tls" }, args: ["--debug"], expect: /TLS|connection/ },
    ];
    for (const c of cases) {
      const sink = await startSmtpSink(c.sink);
      cleanups.push(() => sink.close());
      const srv = await startServer(cleanups, sink.port, PASSWORD, { SMTP_TIMEOUT: "3", ...c.extra }, c.args);
      const client = await runEntry("client.ts", ["-e", "person@example.com", "-m", "secret test"], baseEnv({ SERVER_HOST: "127.0.0.1", SERVER_PORT: String(srv.port) }));
      await srv.stop("SIGTERM");
      // the person is told the mailbox is not available; the precise reason is in the server's log
      const outcome = client.code === 0 ? "OK" : srv.output();
      expect({ case: c.name, outcome }).toEqual({ case: c.name, outcome: expect.stringMatching(c.expect) });
      if (c.args.includes("--debug")) expect(srv.output()).toContain("[smtp");
      expectNoSecret(`server output (${c.name})`, srv.output());
      expectNoSecret(`client output (${c.name})`, client.stdout + client.stderr);
      for (const f of filesUnder(srv.dir)) expectNoSecret(`${f.path} (${c.name})`, f.text);
    }
  }, 60_000);

  test("collector.ts (--debug and not): a good login that logs mail, a wrong password", async () => {
    const good = await startSandboxImap({ port: 0, users: { [ADMIN]: PASSWORD } });
    cleanups.push(() => good.close());
    await good.append(`From: p@example.com\r\nTo: ${ADMIN}\r\nSubject: [Ticket #10001] Mailer\r\n\r\nhello\r\n`);
    await good.append(`From: p@example.com\r\nTo: ${ADMIN}\r\nSubject: other\r\n\r\nhello\r\n`);
    const wrong = await startSandboxImap({ port: 0, users: { [ADMIN]: "the-server-expects-this" } });
    cleanups.push(() => wrong.close());
    const t = tempDir("mailer-secret-");
    cleanups.push(t.cleanup);
    const env = (port: number, name: string) =>
      baseEnv({ EMAIL_LOGIN: ADMIN, EMAIL_PASSWORD: PASSWORD, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: join(t.path, name, "logs"), STATE_DIR: join(t.path, name, "state") });

    const once = await runEntry("collector.ts", ["--once", "--debug"], env(good.port, "good"));
    expect(once.code).toBe(0);
    expect(once.stderr).toMatch(/^C: .*(LOGIN|AUTHENTICATE)/m); // the login really is in the debug log, masked
    expectNoSecret("collector --once --debug output", once.stdout + once.stderr);

    // the loop too (readiness line, IDLE), stopped by SIGTERM
    const loop = await startEntry("collector.ts", ["--debug"], env(good.port, "loop"), /Mailer collector watching/);
    await Bun.sleep(300);
    expect(await loop.stop("SIGTERM")).toBe(0);
    expectNoSecret("collector loop --debug output", loop.output());

    for (const args of [["--once", "--debug"], ["--once"], ["--debug"]]) {
      const r = await runEntry("collector.ts", args, env(wrong.port, `wrong${args.join("")}`));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("Check EMAIL_PASSWORD");
      expectNoSecret(`collector ${args.join(" ")} output (wrong password)`, r.stdout + r.stderr);
    }
    const files = filesUnder(t.path);
    expect(files.some((f) => f.path.endsWith("success_request.log"))).toBe(true);
    for (const f of files) expectNoSecret(f.path, f.text);
  }, 60_000);

  test("the redaction really masks: without it these outputs would contain the password (the check is live)", async () => {
    // a sanity check of the search itself: the forms are what the wire carries
    expect(FORMS).toContain(Buffer.from(`\0${ADMIN}\0${PASSWORD}`).toString("base64"));
    expect(FORMS).toContain(Buffer.from(PASSWORD).toString("base64"));
    expect(() => expectNoSecret("a sample", `AUTH PLAIN ${Buffer.from(`\0${ADMIN}\0${PASSWORD}`).toString("base64")}`)).toThrow();
    expect(() => expectNoSecret("a sample", `1 LOGIN "${ADMIN}" "${PASSWORD.replace(/(["\\])/g, "\\$1")}"`)).toThrow();
  });
});

describe(".env.local", () => {
  test("is ignored by git (so real credentials are never committed), as are .env.*.local", () => {
    for (const name of [".env.local", ".env.production.local", ".env.test.local"]) {
      const r = spawnSync("git", ["check-ignore", "-q", name], { cwd: REPO });
      expect({ name, ignored: r.status === 0 }).toEqual({ name, ignored: true });
    }
    const tracked = spawnSync("git", ["ls-files", ".env.local"], { cwd: REPO, encoding: "utf8" });
    expect(tracked.stdout.trim()).toBe("");
  });
});
