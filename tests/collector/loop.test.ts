import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { errorKind, runLoop, type LoopOptions } from "../../lib/collector/loop";
import { MemoryMailbox } from "../fakes/memory-mailbox";
import { CERTIFICATE_HINT } from "../../lib/shared/tls";
import { tempDir } from "../helpers/env";
import { until as waitUntil } from "../helpers/kit";
import { testCollector } from "../helpers/state";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(box: MemoryMailbox, connectImpl?: () => Promise<MemoryMailbox>, extra: Partial<LoopOptions> = {}) {
  const t = tempDir("mailer-loop-");
  const out: string[] = [];
  const err: string[] = [];
  const stop = new AbortController();
  const c = await testCollector(join(t.path, "logs"), join(t.path, "state"), { out: (l) => out.push(l), shouldStop: () => stop.signal.aborted });
  cleanups.push(t.cleanup, c.close);
  const collector = c.collector;
  let connects = 0;
  const run = runLoop({
    connect: async () => {
      connects++;
      return connectImpl ? connectImpl() : box;
    },
    collector,
    periodMs: 60_000,
    once: false,
    stop: stop.signal,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    where: { login: "admin@mailer.test", host: "127.0.0.1", port: 1143, mailbox: "INBOX" },
    backoff: { initialMs: 20, maxMs: 80 },
    ...extra,
  });
  return { run, out, err, stop, connects: () => connects };
}

const until = (cond: () => boolean, ms = 5000) => waitUntil(cond, ms, "the loop to get there");

const mail = (s: string) => `Subject: ${s}\r\n\r\nbody\r\n`;

test("--once: one check, exit 0", async () => {
  const box = new MemoryMailbox();
  box.add(mail("[Ticket #10001] Mailer"));
  const h = await harness(box, undefined, { once: true });
  expect(await h.run).toBe(0);
  expect(h.out).toContain("uid 1: ticket 10001");
  expect(h.out.at(-1)).toBe("Logged 1 message: 1 ticket to success_request.log, 0 others to error_request.log.");
});

test("new mail wakes the loop at once (PERIOD_CHECK is 60 s); SIGTERM-style stop exits 0", async () => {
  const box = new MemoryMailbox();
  const h = await harness(box);
  await until(() => box.calls.includes("waitForChange"));
  box.add(mail("[Ticket #10002] Mailer"));
  await until(() => h.out.includes("uid 1: ticket 10002"));
  h.stop.abort();
  expect(await h.run).toBe(0);
}, 10_000);

test("a dropped connection: retried with backoff, reported once when lost and once when back", async () => {
  const box = new MemoryMailbox();
  let failures = 0;
  const h = await harness(box, async () => {
    if (failures > 0 && failures < 5) {
      failures++;
      throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1143"), { code: "ECONNREFUSED" });
    }
    return box;
  });
  await until(() => box.calls.includes("waitForChange"));
  failures = 1;
  box.failWith = Object.assign(new Error("Connection closed"), { code: "NoConnection" });
  box.add(mail("wake"));
  await until(() => failures >= 5);
  box.failWith = null;
  await until(() => h.err.some((l) => /is back/.test(l)));
  await until(() => h.out.includes("uid 1: error — subject \"wake\" is not in the ticket format \"[Ticket #<number>] Mailer\""));
  h.stop.abort();
  expect(await h.run).toBe(0);
  expect(h.err.filter((l) => /lost|failed/.test(l))).toHaveLength(1);
  expect(h.err.filter((l) => /is back/.test(l))).toHaveLength(1);
  expect(h.connects()).toBeGreaterThanOrEqual(5);
}, 10_000);

test("wrong credentials: exit 2 with a message naming EMAIL_LOGIN and EMAIL_PASSWORD, no retry", async () => {
  const box = new MemoryMailbox();
  const h = await harness(box, async () => {
    throw Object.assign(new Error("Command failed"), { authenticationFailed: true, serverResponseCode: "AUTHENTICATIONFAILED", responseText: "Authentication failed." });
  });
  expect(await h.run).toBe(2);
  expect(h.connects()).toBe(1);
  expect(h.err.join("\n")).toMatch(/EMAIL_LOGIN=admin@mailer\.test.*Authentication failed\..*Check EMAIL_PASSWORD/);
});

test("untrusted certificate: exit 2 with the TLS_CA_FILE hint", async () => {
  const h = await harness(new MemoryMailbox(), async () => {
    throw Object.assign(new Error("self signed certificate in certificate chain"), { code: "SELF_SIGNED_CERT_IN_CHAIN" });
  });
  expect(await h.run).toBe(2);
  expect(h.err.join("\n")).toContain(CERTIFICATE_HINT);
});

test("--once with the server unreachable: exit 3 and what to check", async () => {
  const h = await harness(new MemoryMailbox(), async () => {
    throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1143"), { code: "ECONNREFUSED" });
  }, { once: true });
  expect(await h.run).toBe(3);
  expect(h.err.join("\n")).toMatch(/Cannot check the IMAP server 127\.0\.0\.1:1143: .*ECONNREFUSED.*IMAP_HOST\/IMAP_PORT/);
});

test("error kinds", () => {
  expect(errorKind({ authenticationFailed: true })).toBe("auth");
  expect(errorKind({ code: "ERR_TLS_CERT_ALTNAME_INVALID", message: "Hostname/IP does not match certificate's altnames" })).toBe("certificate");
  expect(errorKind(Object.assign(new Error("Server does not support STARTTLS"), { tlsFailed: true }))).toBe("starttls");
  expect(errorKind({ code: "ECONNRESET" })).toBe("transient");
  expect(errorKind({ code: "ERR_SSL_WRONG_VERSION_NUMBER", message: "wrong version number" })).toBe("tlsmode");
});

test("implicit TLS spoken to a plain/STARTTLS port: exit 2 naming IMAP_SECURE, not retried as an outage", async () => {
  const h = await harness(new MemoryMailbox(), async () => {
    throw Object.assign(new Error("ssl3_get_record:wrong version number"), { code: "ERR_SSL_WRONG_VERSION_NUMBER" });
  });
  expect(await h.run).toBe(2);
  expect(h.connects()).toBe(1);
  expect(h.err.join("\n")).toContain("set IMAP_SECURE=starttls");
});

test("no greeting (plain text spoken to an implicit-TLS port): the advice names IMAP_SECURE=tls", async () => {
  const h = await harness(new MemoryMailbox(), async () => {
    throw Object.assign(new Error("Failed to receive greeting from server in required time"), { code: "GREETING_TIMEOUT" });
  }, { once: true });
  expect(await h.run).toBe(3);
  expect(h.err.join("\n")).toContain("set IMAP_SECURE=tls");
});
