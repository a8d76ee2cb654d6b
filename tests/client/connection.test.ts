import { afterEach, expect, test } from "bun:test";
import { requestTicket } from "../../lib/client/connection";
import { TcpServer } from "../../lib/server/tcp-server";
import { freePort } from "../helpers/env";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function server(handle: (line: string) => Promise<import("../../lib/wire/protocol").Reply>) {
  const s = new TcpServer({ host: "127.0.0.1", port: 0, maxRequestBytes: 1 << 20, idleTimeoutSec: 30, maxConnections: 10, handle });
  s.start();
  cleanups.push(() => s.stop(100));
  return s;
}

test("sends one request line and returns the reply; Cyrillic and emoji arrive unchanged", async () => {
  let got: unknown;
  const s = server(async (line) => ((got = JSON.parse(line)), { status: "OK", ticket: "10042" }));
  const message = "Привет!\nвторая строка 👋🏽 — «кавычки»";
  const r = await requestTicket("127.0.0.1", s.port, "ivan@пример.рф", message, 5000);
  expect(r).toEqual({ kind: "reply", reply: { status: "OK", ticket: "10042" } });
  expect(got).toEqual({ email: "ivan@пример.рф", message });
});

test("a large request (many partial writes) arrives whole", async () => {
  let length = 0;
  const s = server(async (line) => ((length = JSON.parse(line).message.length), { status: "OK", ticket: "10001" }));
  const r = await requestTicket("127.0.0.1", s.port, "a@example.com", "ж".repeat(400_000), 10_000);
  expect(r.kind).toBe("reply");
  expect(length).toBe(400_000);
});

test("error replies come back as they are", async () => {
  const s = server(async () => ({ status: "ERROR", code: "RATE_LIMITED", error: "too many", retryAfter: 30 }));
  expect(await requestTicket("127.0.0.1", s.port, "a@example.com", "m", 5000)).toEqual({
    kind: "reply", reply: { status: "ERROR", code: "RATE_LIMITED", error: "too many", retryAfter: 30 },
  });
});

test("nobody listening: unreachable, with what to do", async () => {
  const port = freePort();
  const r = await requestTicket("127.0.0.1", port, "a@example.com", "m", 5000);
  expect(r).toEqual({ kind: "unreachable", error: `cannot reach the Mailer server at 127.0.0.1:${port} (connection refused) — is it running there (\`bun server.ts\` or mailer-server)?` });
});

test("a server that never answers: unreachable after the timeout", async () => {
  const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  cleanups.push(() => silent.stop(true));
  const r = await requestTicket("127.0.0.1", silent.port, "a@example.com", "m", 300);
  expect(r).toMatchObject({ kind: "unreachable", error: expect.stringContaining("did not answer within") });
});

test("something else on the port (not a Mailer reply): unreachable, says so", async () => {
  const other = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open(s) { s.write("220 smtp.example.com ESMTP\r\n"); }, data() {} } });
  cleanups.push(() => other.stop(true));
  const r = await requestTicket("127.0.0.1", other.port, "a@example.com", "m", 2000);
  expect(r).toMatchObject({ kind: "unreachable", error: expect.stringContaining("not a Mailer reply") });
});

test("the server closing without an answer: unreachable", async () => {
  const closer = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(s) { s.end(); } } });
  cleanups.push(() => closer.stop(true));
  const r = await requestTicket("127.0.0.1", closer.port, "a@example.com", "m", 2000);
  expect(r).toMatchObject({ kind: "unreachable", error: expect.stringContaining("closed the connection without answering") });
});
