// Pop3Client against scripted servers: what it sends, in which order, and what it makes of the
// answers — pipelining only when announced, the SASL hook (XOAUTH2 with its error challenge),
// STLS required but not offered, a pre-CAPA server, credentials never in the debug log.
import { afterEach, expect, test } from "bun:test";
import net from "node:net";
import { Pop3Client, type Pop3ClientOptions } from "../../lib/collector/pop3/client";
import { errorKind } from "../../lib/collector/loop";
import { tlsOptions } from "../../lib/shared/tls";
import { LineAssembler } from "../../lib/wire/framing";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A server that calls `on(line, send)` for every command line; greets with +OK. */
async function scripted(on: (line: string, send: (text: string) => void, seen: string[]) => void): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    const lines = new LineAssembler(65536);
    socket.on("data", (chunk: Buffer) => {
      for (const f of lines.push(chunk)) if (f.kind === "line") (seen.push(f.text), on(f.text, (t) => socket.write(t), seen));
    });
    socket.write("+OK ready\r\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { port: (server.address() as net.AddressInfo).port, seen };
}

const options = (port: number, extra: Partial<Pop3ClientOptions> = {}): Pop3ClientOptions => ({
  host: "127.0.0.1", port, implicitTls: false, starttls: "when-offered", tls: tlsOptions("127.0.0.1", undefined),
  login: "admin@mailer.test", password: "s3cret-pw", timeoutMs: 5000, ...extra,
});

async function mailServer(pipelining: boolean) {
  const message = (n: number) => `Subject: ${n}\r\n\r\nbody ${n}\r\n`;
  const state = { answering: false, overlapped: false };
  const server = await scripted((line, send, seen) => {
    if (line === "CAPA") send(`+OK\r\nUSER\r\nUIDL\r\n${pipelining ? "PIPELINING\r\n" : ""}.\r\n`);
    else if (line.startsWith("USER") || line.startsWith("PASS") || line === "QUIT") send("+OK\r\n");
    else if (line.startsWith("RETR")) {
      // answer only once all three are in when pipelining is announced: proves they were sent
      // without waiting; otherwise answer each at once
      const retrs = seen.filter((l) => l.startsWith("RETR"));
      if (!pipelining) {
        // answered a moment later: a client that did not wait would send the next one meanwhile
        if (state.answering) state.overlapped = true;
        state.answering = true;
        setTimeout(() => ((state.answering = false), send(`+OK\r\n${message(Number(line.slice(5)))}.\r\n`)), 20);
      }
      else if (retrs.length === 3) for (const r of retrs) send(`+OK\r\n${message(Number(r.slice(5)))}.\r\n`);
    }
  });
  return { ...server, state };
}

for (const pipelining of [true, false]) {
  test(`RETR ${pipelining ? "pipelined when PIPELINING is announced" : "one at a time without PIPELINING"}; USER/PASS when no SASL PLAIN; no DELE ever`, async () => {
    const s = await mailServer(pipelining);
    const log: string[] = [];
    const c = await Pop3Client.connect(options(s.port, { debug: (l) => log.push(l) }));
    const sources = await c.retrieve([1, 2, 3]);
    expect(sources.map((b) => b!.toString())).toEqual([1, 2, 3].map((n) => `Subject: ${n}\r\n\r\nbody ${n}\r\n`));
    await c.quit();
    expect(s.state.overlapped).toBe(false);
    expect(s.seen.filter((l) => !l.startsWith("CAPA"))).toEqual(["USER admin@mailer.test", "PASS s3cret-pw", "RETR 1", "RETR 2", "RETR 3", "QUIT"]);
    expect(log.join("\n")).toContain("C: PASS ***");
    expect(log.join("\n")).not.toContain("s3cret-pw");
  });
}

test("the SASL hook: AUTH XOAUTH2 with its initial response; a refused token's challenge is answered empty → authentication failed", async () => {
  const s = await scripted((line, send) => {
    if (line === "CAPA") send("+OK\r\nSASL PLAIN XOAUTH2\r\nUIDL\r\n.\r\n");
    else if (line.startsWith("AUTH XOAUTH2 ")) send(`+ ${Buffer.from('{"status":"401"}').toString("base64")}\r\n`);
    else if (line === "") send("-ERR [AUTH] Invalid token\r\n");
  });
  const token = Buffer.from("user=admin@mailer.test\x01auth=Bearer ya29.secret-token\x01\x01").toString("base64");
  const log: string[] = [];
  const err = await Pop3Client.connect(options(s.port, { sasl: { name: "XOAUTH2", initialResponse: () => token }, debug: (l) => log.push(l) })).catch((e) => e);
  expect(s.seen).toEqual(["CAPA", `AUTH XOAUTH2 ${token}`, ""]);
  expect(err.authenticationFailed).toBe(true);
  expect(errorKind(err)).toBe("auth");
  expect(log.join("\n")).toContain("C: AUTH XOAUTH2 ***");
  expect(log.join("\n")).not.toContain(token);
});

test("AUTH PLAIN when offered; [IN-USE] is a temporary refusal, not a wrong password", async () => {
  const s = await scripted((line, send) => {
    if (line === "CAPA") send("+OK\r\nSASL PLAIN\r\nRESP-CODES\r\n.\r\n");
    else if (line.startsWith("AUTH PLAIN ")) send("-ERR [IN-USE] Mailbox locked by another session\r\n");
  });
  const err = await Pop3Client.connect(options(s.port)).catch((e) => e);
  expect(s.seen[1]).toBe(`AUTH PLAIN ${Buffer.from("\0admin@mailer.test\0s3cret-pw").toString("base64")}`);
  expect(err.authenticationFailed).toBeUndefined();
  expect(errorKind(err)).toBe("transient");
});

test("POP3_SECURE=starttls against a server without STLS: refused before any credential is sent", async () => {
  const s = await scripted((line, send) => {
    if (line === "CAPA") send("+OK\r\nUSER\r\nUIDL\r\n.\r\n");
    else send("-ERR no\r\n");
  });
  const err = await Pop3Client.connect(options(s.port, { starttls: "required" })).catch((e) => e);
  expect(errorKind(err)).toBe("starttls");
  expect(s.seen).toEqual(["CAPA"]);
});

test("a pre-RFC 2449 server (-ERR to CAPA) gets USER/PASS and UIDL anyway", async () => {
  const s = await scripted((line, send) => {
    if (line === "CAPA") send("-ERR unknown command\r\n");
    else if (line === "UIDL") send("+OK\r\n1 abc\r\n2 def\r\n.\r\n");
    else send("+OK\r\n");
  });
  const c = await Pop3Client.connect(options(s.port));
  expect(await c.uidl()).toEqual([{ n: 1, uid: "abc" }, { n: 2, uid: "def" }]);
  await c.quit();
  expect(s.seen.filter((l) => l !== "CAPA")).toEqual(["USER admin@mailer.test", "PASS s3cret-pw", "UIDL", "QUIT"]);
});

test("a server that stops answering: the command fails after the timeout, the connection is not left hanging", async () => {
  const s = await scripted((line, send) => {
    if (line === "CAPA") send("+OK\r\nUSER\r\nUIDL\r\n.\r\n");
    else if (!line.startsWith("UIDL")) send("+OK\r\n");
  });
  const c = await Pop3Client.connect(options(s.port, { timeoutMs: 300 }));
  const err = await c.uidl().catch((e) => e);
  expect(err.code).toBe("ETIMEDOUT");
  expect(errorKind(err)).toBe("transient");
});
