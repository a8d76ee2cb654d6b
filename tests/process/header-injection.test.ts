// Header injection through every field, end to end: the real server.ts process, a real SMTP
// server (smtp-server), and the raw mails it received. Each attempt is either refused with a
// validation error or delivered as exactly two mails (the person's, the admin's) whose headers
// are exactly the ones the server writes, to exactly the envelope recipients it chose.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { requestTicket } from "../../lib/client/connection";
import { ADMIN, startServer, type Running } from "../helpers/hardening";
import { connectLines } from "../helpers/line-client";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const EVIL = "evil@attacker.example";
const cleanups: (() => unknown)[] = [];
let sink: SmtpSink;
let srv: Running;
beforeAll(async () => {
  sink = await startSmtpSink();
  cleanups.push(() => sink.close());
  srv = await startServer(cleanups, sink.port, "inj-pw", { SMTP_POOL_SIZE: "2" });
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LINE_BREAKS = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\u0085", "\r\n\t", "%0d%0a", "\\r\\n"];
const INJECTED = ["Bcc: " + EVIL, "To: " + EVIL, "Cc: " + EVIL, "Subject: pwned", "Content-Type: text/html", "Reply-To: " + EVIL];

/** Addresses that try to carry a second header or recipient. */
function addressAttempts(): string[] {
  const out: string[] = [];
  for (const br of LINE_BREAKS) for (const h of INJECTED) out.push(`victim@example.com${br}${h}`);
  out.push(
    // RFC 2047 encoded words with an encoded CRLF, as a local part (all atext: a valid-looking address)
    "=?utf-8?q?victim=0D=0ABcc=3A_evil=40attacker.example?=@example.com",
    "=?utf-8?b?dmljdGltDQpCY2M6IGV2aWxAYXR0YWNrZXIuZXhhbXBsZQ==?=@example.com",
    "victim@=?utf-8?q?example.com=0D=0ABcc=3A_evil?=",
    // lists, display names, route syntax, comments, quoting
    `victim@example.com, ${EVIL}`,
    `victim@example.com;${EVIL}`,
    `Victim <victim@example.com>, ${EVIL}`,
    `"victim@example.com\r\nBcc: ${EVIL}"@example.com`,
    `victim@example.com (\r\nBcc: ${EVIL})`,
    `<@attacker.example:victim@example.com>`,
    "evil%attacker.example@example.com", // percent hack: the envelope stays at example.com
    `victim@example.com>\r\nRCPT TO:<${EVIL}`,
    `victim@example.com\u0000Bcc: ${EVIL}`,
  );
  return out;
}

/** Message texts that try to add headers, end the header block, or smuggle SMTP commands. */
function messageAttempts(): string[] {
  const out: string[] = [];
  for (const br of LINE_BREAKS) for (const h of INJECTED) out.push(`${h}${br}${br}body after a fake header block`);
  out.push(
    "=?utf-8?q?hello=0D=0ABcc=3A_evil=40attacker.example?=",
    "Subject: =?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=\n\nbody",
    // SMTP smuggling: end DATA early, then a second transaction to the attacker
    `hi\r\n.\r\nMAIL FROM:<${ADMIN}>\r\nRCPT TO:<${EVIL}>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n`,
    `hi\n.\nMAIL FROM:<${ADMIN}>\nRCPT TO:<${EVIL}>\nDATA\nx\n.\n`,
    `hi\r.\rRCPT TO:<${EVIL}>`,
    `hi\n.\r\nRCPT TO:<${EVIL}>`,
    `.\nBcc: ${EVIL}`,
    "\u2028Bcc: " + EVIL + "\u2029",
    "-- \nboundary games\n--=_b\nContent-Type: text/html\n\n<b>x</b>\n--=_b--",
  );
  return out;
}

/** The header block of a raw mail as [name, unfolded value] pairs. */
function headers(raw: Buffer): [string, string][] {
  const text = raw.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  expect(end).toBeGreaterThan(0);
  const lines = text.slice(0, end).split("\r\n");
  const out: [string, string][] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && out.length) out[out.length - 1]![1] += line; // folded
    else {
      const m = /^([!-9;-~]+):(.*)$/.exec(line);
      if (!m) throw new Error(`not a header line: ${JSON.stringify(line)}`);
      out.push([m[1]!.toLowerCase(), m[2]!.trim()]);
    }
  }
  return out;
}

const ALLOWED = ["from", "to", "reply-to", "subject", "message-id", "date", "mime-version", "content-type", "content-transfer-encoding"];

/** Checks one delivered pair (the person's mail, the admin's copy) against what the server writes. */
function checkPair(ticket: string, expectedTo: string): void {
  const pair = sink.messages.filter((m) => m.parsed.subject === `[Ticket #${ticket}] Mailer`);
  expect(pair.map((m) => m.to)).toEqual([[expectedTo], [ADMIN]]);
  for (const [i, m] of pair.entries()) {
    const hs = headers(m.raw).map(([n, v]) => [n, v.trim()] as [string, string]);
    const names = hs.map(([n]) => n);
    for (const n of names) expect(ALLOWED).toContain(n);
    for (const n of ["from", "to", "subject", "date", "message-id", "content-type"]) expect(names.filter((x) => x === n)).toHaveLength(1);
    expect(names.filter((x) => x === "reply-to")).toHaveLength(i === 0 ? 0 : 1);
    const get = (n: string) => hs.find(([x]) => x === n)![1];
    expect(get("subject")).toBe(`[Ticket #${ticket}] Mailer`);
    expect(get("from")).toBe(ADMIN);
    expect(get("to")).toBe(i === 0 ? expectedTo : ADMIN);
    if (i === 1) expect(get("reply-to")).toBe(expectedTo);
    expect(get("content-type")).toBe("text/plain; charset=utf-8");
    // the parser agrees: one address per address header, and nothing of the attacker's
    expect(m.parsed.to!.value.map((v) => v.address)).toEqual([i === 0 ? expectedTo : ADMIN]);
    if (i === 1) expect(m.parsed.replyTo!.value.map((v) => v.address)).toEqual([expectedTo]);
    expect(m.parsed.from!.value).toHaveLength(1);
    expect(m.parsed.headers.has("bcc")).toBe(false);
    expect(m.parsed.headers.has("cc")).toBe(false);
    expect(m.from).toBe(ADMIN);
  }
}

describe("header injection through the real server into a real SMTP server", () => {
  test("through the address: every attempt refused, or delivered to that one address with nothing added", async () => {
    const attempts = addressAttempts();
    const results: string[] = [];
    for (const email of attempts) {
      const o = await requestTicket("127.0.0.1", srv.port, email, "hello", 10_000);
      if (o.kind !== "reply") throw new Error(`no reply for ${JSON.stringify(email)}: ${o.error}`);
      // an RFC 2047 encoded word as the local part: valid atext, but a decoding parser would
      // turn its =0D=0A into a line break inside To/Reply-To — refused by name
      if (/^=\?.*\?=@/.test(email)) expect(o.reply).toMatchObject({ code: "INVALID_EMAIL", error: expect.stringContaining("encoded word") });
      if (o.reply.status === "OK") {
        const ticket = o.reply.ticket;
        await waitTicket(ticket);
        // whatever was accepted went to one address, exactly as the person typed it
        checkPair(ticket, email);
        results.push(`OK ${JSON.stringify(email)}`);
      } else {
        expect(["INVALID_EMAIL", "MAIL_FAILED"]).toContain(o.reply.code);
        expect(o.reply.field).toBe("email");
        results.push(o.reply.code);
      }
    }
    console.log(`address attempts: ${attempts.length}; accepted: ${results.filter((r) => r.startsWith("OK")).join(", ") || "none"}`);
    expect(sink.messages.flatMap((m) => m.to).filter((a) => a.toLowerCase().endsWith("@attacker.example"))).toEqual([]);
  }, 60_000);

  test("through the message: every accepted text arrives as body only — the same headers, the same two recipients", async () => {
    const attempts = messageAttempts();
    let accepted = 0;
    for (const message of attempts) {
      const o = await requestTicket("127.0.0.1", srv.port, "victim@example.com", message, 10_000);
      if (o.kind !== "reply") throw new Error(`no reply: ${o.error}`);
      if (o.reply.status !== "OK") {
        expect(o.reply.code).toBe("INVALID_MESSAGE"); // e.g. a control character
        continue;
      }
      accepted++;
      await waitTicket(o.reply.ticket);
      checkPair(o.reply.ticket, "victim@example.com");
      const user = sink.messages.find((m) => m.parsed.subject === `[Ticket #${(o.reply as { ticket: string }).ticket}] Mailer`)!;
      // the attacker's "headers" are still there, as text of the body
      const firstWords = message.replace(/\r\n?/g, "\n").split(/[\n\u2028\u2029\u0085]/).find((l) => l.trim())!.trim().slice(0, 12);
      expect(user.parsed.text!).toContain(firstWords);
    }
    console.log(`message attempts: ${attempts.length}; accepted (as body text): ${accepted}`);
    expect(accepted).toBeGreaterThan(attempts.length / 2);
    expect(sink.messages.flatMap((m) => m.to).filter((a) => a.toLowerCase().endsWith("@attacker.example"))).toEqual([]);
    expect(sink.messages.every((m) => m.parsed.subject?.startsWith("[Ticket #"))).toBe(true);
  }, 60_000);

  test("raw JSON with extra fields (bcc, cc, to, subject, headers) is ignored: still one person, one admin copy", async () => {
    const c = await connectLines(srv.port);
    cleanups.push(() => c.destroy());
    const req = { email: "victim@example.com", message: "extra fields", bcc: EVIL, cc: EVIL, to: EVIL, subject: "pwned", headers: { Bcc: EVIL }, from: EVIL, replyTo: EVIL };
    await c.write(JSON.stringify(req) + "\n");
    const reply = JSON.parse((await c.waitLines(1))[0]!);
    expect(reply.status).toBe("OK");
    await waitTicket(reply.ticket);
    checkPair(reply.ticket, "victim@example.com");
  }, 20_000);
});

async function waitTicket(ticket: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  const subject = `[Ticket #${ticket}] Mailer`;
  while (sink.messages.filter((m) => m.parsed.subject === subject).length < 2) {
    if (Date.now() > deadline) throw new Error(`ticket ${ticket}: expected 2 mails at the sink`);
    await Bun.sleep(10);
  }
  await Bun.sleep(30); // a third one would be a bug: give it a moment to show up
  expect(sink.messages.filter((m) => m.parsed.subject === subject)).toHaveLength(2);
}
