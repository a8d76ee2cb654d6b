import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeRedactor } from "../../lib/shared/redact";
import { describeSmtpError, NodemailerSender, type SmtpContext } from "../../lib/server/smtp";
import { CERTIFICATE_HINT } from "../../lib/shared/tls";
import { freePort, REPO } from "../helpers/env";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const PASSWORD = "s3cret-Pa55word";
const ctx: SmtpContext = { host: "smtp.example.com", port: 587, login: "admin@example.com", timeoutSec: 15, security: "auto", redact: makeRedactor("admin@example.com", PASSWORD) };

/** An error as nodemailer builds it (_formatError): message + ": " + response, code, responseCode, command. */
function nmError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  const response = extra.response as string | undefined;
  const err = new Error(response ? `${message}: ${response}` : message) as Error & Record<string, unknown>;
  err.code = code;
  if (response) err.responseCode = Number(response.slice(0, 3));
  Object.assign(err, extra);
  return err;
}

describe("describeSmtpError: every failure class has its own precise reason", () => {
  const table: [string, Error, RegExp, string, boolean][] = [
    ["connection refused", nmError("ESOCKET", "connect ECONNREFUSED 10.0.0.1:587", { originalCode: "ECONNREFUSED", command: "CONN" }),
      /cannot connect to the SMTP server at smtp\.example\.com:587: connection refused — is it running, and are SMTP_HOST\/SMTP_PORT right\?/, "connect", false],
    ["connection refused (ECONNECTION)", nmError("ECONNECTION", "connect ECONNREFUSED 10.0.0.1:587", { errno: "ECONNREFUSED" }), /connection refused/, "connect", false],
    ["timeout", nmError("ETIMEDOUT", "Greeting never received", { command: "CONN" }), /did not answer within SMTP_TIMEOUT=15 s/, "timeout", false],
    ["DNS", nmError("EDNS", "getaddrinfo ENOTFOUND smtp.example.com"), /cannot resolve SMTP_HOST=smtp\.example\.com/, "dns", false],
    ["untrusted certificate", nmError("ESOCKET", "self-signed certificate in certificate chain", { originalCode: "SELF_SIGNED_CERT_IN_CHAIN" }),
      new RegExp(`TLS with the SMTP server at smtp\\.example\\.com:587 failed: the certificate was not accepted .* — ${CERTIFICATE_HINT.replace(/[()]/g, "\\$&")}`), "tls", false],
    ["wrong host name in certificate", nmError("ETLS", "Error initiating TLS - Hostname/IP does not match certificate's altnames", { originalCode: "ERR_TLS_CERT_ALTNAME_INVALID" }), /certificate was not accepted.*TLS_CA_FILE/, "tls", false],
    ["STARTTLS required but not offered", nmError("ETLS", "Error upgrading connection with STARTTLS", { response: "502 5.5.1 Unrecognized command", command: "STARTTLS" }),
      /does not offer STARTTLS \(502 5\.5\.1 Unrecognized command\), and SMTP_SECURE=starttls requires it/, "tls", false],
    ["login refused", nmError("EAUTH", "Invalid login", { response: "535 5.7.8 Authentication credentials invalid", command: "AUTH PLAIN" }),
      /refused the login for EMAIL_LOGIN=admin@example\.com \(535 5\.7\.8 Authentication credentials invalid\) — check EMAIL_PASSWORD/, "auth", false],
    ["recipient refused", nmError("EENVELOPE", "Can't send mail - all recipients were rejected", { response: "550 5.1.1 <nobody@example.com>: User unknown", command: "RCPT TO", rejected: ["nobody@example.com"] }),
      /refused the recipient nobody@example\.com: 550 5\.1\.1 <nobody@example\.com>: User unknown/, "recipient", true],
    ["recipient deferred", nmError("EENVELOPE", "Can't send mail - all recipients were rejected", { response: "451 4.3.0 try later", command: "RCPT TO" }), /refused the recipient .*451 4\.3\.0/, "recipient", false],
    ["sender refused", nmError("EENVELOPE", "Mail command failed", { response: "553 5.7.1 Sender not owned", command: "MAIL FROM" }), /refused the sender address: 553 5\.7\.1.*ADMIN_EMAIL/, "sender", true],
    ["message refused", nmError("EMESSAGE", "Message failed", { response: "554 5.6.0 Message rejected as spam", command: "DATA" }), /refused the message: 554 5\.6\.0 Message rejected as spam/, "message", true],
    ["connection dropped", nmError("ECONNECTION", "Connection closed unexpectedly"), /the connection to the SMTP server at smtp\.example\.com:587 failed: Connection closed unexpectedly/, "connect", false],
    ["protocol", nmError("EPROTOCOL", "Invalid greeting", { response: "999 what" }), /answered unexpectedly/, "protocol", false],
  ];
  for (const [name, err, reason, kind, permanent] of table) {
    test(name, () => {
      const r = describeSmtpError(err, ctx, "nobody@example.com");
      expect(r.error).toMatch(reason);
      expect(r.kind).toBe(kind as never);
      expect(r.permanent).toBe(permanent);
    });
  }

  test("the password never appears, even when the server echoes it", () => {
    const err = nmError("EAUTH", "Invalid login", { response: `535 bad password ${PASSWORD} ${Buffer.from(`\0admin@example.com\0${PASSWORD}`).toString("base64")}` });
    const r = describeSmtpError(err, ctx);
    expect(r.error).not.toContain(PASSWORD);
    expect(r.error).not.toContain(Buffer.from(`\0admin@example.com\0${PASSWORD}`).toString("base64"));
  });
});

describe("NodemailerSender against a real SMTP server", () => {
  const sinks: SmtpSink[] = [];
  const senders: NodemailerSender[] = [];
  afterEach(async () => {
    for (const s of senders.splice(0)) await s.close();
    for (const s of sinks.splice(0)) await s.close();
  });
  function sender(port: number, extra: Partial<ConstructorParameters<typeof NodemailerSender>[0]> = {}) {
    const s = new NodemailerSender({
      smtp: { host: "127.0.0.1", port, security: "auto" }, login: "", password: "", poolSize: 2, timeoutSec: 5,
      redact: makeRedactor("admin@mailer.test", PASSWORD), ...extra,
    });
    senders.push(s);
    return s;
  }
  async function sink(opts: Parameters<typeof startSmtpSink>[0] = {}) {
    const s = await startSmtpSink(opts);
    sinks.push(s);
    return s;
  }
  const mail = { from: "admin@mailer.test", to: "ivan@xn--e1afmkfd.xn--p1ai", replyTo: "ivan@xn--e1afmkfd.xn--p1ai", subject: "[Ticket #10001] Mailer", text: "Привет 👋\r\nBcc: evil@example.org\nTo: evil@example.org" };

  test("headers: From, To (punycode), Reply-To, subject, text/plain utf-8; body text cannot add headers or recipients", async () => {
    const s = await sink();
    const r = await sender(s.port).send(mail);
    expect(r.ok).toBe(true);
    const [m] = await s.waitFor(1);
    expect(m!.to).toEqual(["ivan@пример.рф"]); // smtp-server shows the envelope decoded
    const head = m!.raw.toString("utf8").split("\r\n\r\n")[0]!;
    expect(head).toMatch(/^To: ivan@xn--e1afmkfd\.xn--p1ai$/m);
    expect(head).toMatch(/^From: admin@mailer\.test$/m);
    expect(head).toMatch(/^Reply-To: ivan@xn--e1afmkfd\.xn--p1ai$/m);
    expect(head).toMatch(/^Subject: \[Ticket #10001\] Mailer$/m);
    expect(head).toMatch(/^Content-Type: text\/plain; charset=utf-8$/m);
    expect(head).not.toMatch(/^Bcc:/im);
    expect(head.match(/^To:/gim)!.length).toBe(1);
    expect(m!.parsed.text!.trimEnd()).toBe("Привет 👋\nBcc: evil@example.org\nTo: evil@example.org");
  });

  test("an address list or a header in an address cannot add recipients", async () => {
    const s = await sink();
    const snd = sender(s.port);
    for (const to of ["a@example.com, evil@example.org", "a@example.com\r\nBcc: evil@example.org", "Evil <evil@example.org>", "a@example.com;evil@example.org"]) {
      expect(await snd.send({ ...mail, to })).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining("is not one plain ASCII address") });
    }
    expect(await snd.send({ ...mail, replyTo: "x@example.com,evil@example.org" })).toMatchObject({ ok: false });
    expect((await snd.send(mail)).ok).toBe(true);
    await s.waitFor(1);
    await Bun.sleep(50);
    expect(s.messages.length).toBe(1);
  });

  test("nothing listening: connection refused", async () => {
    const r = await sender(freePort()).send(mail);
    expect(r).toMatchObject({ ok: false, kind: "connect", permanent: false, error: expect.stringContaining("connection refused") });
  });

  test("a server that never greets: timed out after SMTP_TIMEOUT", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await sender(silent.port, { timeoutSec: 0.5 }).send(mail);
      expect(r).toMatchObject({ ok: false, kind: "timeout", error: expect.stringContaining("SMTP_TIMEOUT=0.5 s") });
    } finally {
      silent.stop(true);
    }
  });

  test("login refused: names EMAIL_LOGIN, never the password; --debug output is redacted too", async () => {
    const s = await sink({ auth: { user: "admin@mailer.test", pass: "the-right-one" } });
    const debug: string[] = [];
    const r = await sender(s.port, { login: "admin@mailer.test", password: PASSWORD, debugLog: (l) => debug.push(l) }).send(mail);
    expect(r).toMatchObject({ ok: false, kind: "auth", error: expect.stringMatching(/refused the login for EMAIL_LOGIN=admin@mailer\.test .*535.* — check EMAIL_PASSWORD/) });
    expect(debug.join("\n")).toContain("AUTH");
    const everything = JSON.stringify(r) + debug.join("\n");
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(Buffer.from(`\0admin@mailer.test\0${PASSWORD}`).toString("base64"));
  });

  test("recipient refused: the server's reply code and text, permanent", async () => {
    const s = await sink({ refuse: (a) => a.startsWith("nobody@") });
    const r = await sender(s.port).send({ ...mail, to: "nobody@example.com" });
    expect(r).toMatchObject({ ok: false, kind: "recipient", permanent: true, error: expect.stringContaining("refused the recipient nobody@example.com: 550 5.1.1") });
  });

  describe("TLS", () => {
    const fixtures = join(REPO, "tests/fixtures/tls");
    const tls = { key: readFileSync(join(fixtures, "server.key"), "utf8"), cert: readFileSync(join(fixtures, "server.pem"), "utf8") };
    const ca = [readFileSync(join(fixtures, "ca.pem"), "utf8")];

    test("STARTTLS with a certificate from an unknown CA is refused with the TLS_CA_FILE hint", async () => {
      const s = await sink({ tls });
      const r = await sender(s.port).send(mail);
      expect(r).toMatchObject({ ok: false, kind: "tls", error: expect.stringContaining(CERTIFICATE_HINT) });
    });

    test("STARTTLS with TLS_CA_FILE's CA: verified and sent (IP host)", async () => {
      const s = await sink({ tls });
      expect((await sender(s.port, { ca }).send(mail)).ok).toBe(true);
      expect((await sender(s.port, { ca, smtp: { host: "localhost", port: s.port, security: "starttls" } }).send(mail)).ok).toBe(true);
    });

    test("implicit TLS (SMTP_SECURE=tls) with the CA", async () => {
      const s = await sink({ tls: { ...tls, implicit: true } });
      expect((await sender(s.port, { ca, smtp: { host: "127.0.0.1", port: s.port, security: "tls" } }).send(mail)).ok).toBe(true);
    });

    test("SMTP_SECURE=starttls against a server without STARTTLS: refused, says so", async () => {
      const s = await sink();
      const r = await sender(s.port, { smtp: { host: "127.0.0.1", port: s.port, security: "starttls" } }).send(mail);
      expect(r).toMatchObject({ ok: false, kind: "tls", error: expect.stringContaining("SMTP_SECURE=starttls requires it") });
    });
  });

  test("the pool under load: 300 messages through 3 connections, all delivered", async () => {
    const s = await sink();
    const snd = sender(s.port, { poolSize: 3 });
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => snd.send({ ...mail, to: `u${i}@example.com` })));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    await s.waitFor(300);
  }, 20_000);
});
