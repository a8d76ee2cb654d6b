import { afterEach, expect, setSystemTime, test, setDefaultTimeout } from "bun:test";
import { until } from "../helpers/kit";
import { errorReply, type Reply } from "../../lib/wire/protocol";
import { TcpServer, type TcpServerOptions } from "../../lib/server/tcp-server";
import net from "node:net";
import { connectLines, type LineClient } from "../helpers/line-client";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const servers: TcpServer[] = [];
const clients: LineClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.stop(100);
});

/** Echo handler: replies OK with the request's "n" as ticket, after `delay(n)` ms. */
function echo(delay: (n: number) => number = () => 0) {
  return async (line: string): Promise<Reply> => {
    const { n } = JSON.parse(line) as { n: number };
    await Bun.sleep(delay(n));
    return { status: "OK", ticket: String(n) };
  };
}

function start(opts: Partial<TcpServerOptions> = {}) {
  const local: Reply[] = [];
  const server = new TcpServer({
    host: "127.0.0.1", port: 0, maxRequestBytes: 1024, idleTimeoutSec: 30, maxConnections: 100,
    handle: echo(), onLocalReply: (_p, r) => local.push(r), ...opts,
  });
  server.start();
  servers.push(server);
  return { server, local };
}
async function client(port: number) {
  const c = await connectLines(port);
  clients.push(c);
  return c;
}
const req = (n: number) => JSON.stringify({ n }) + "\n";
const tickets = (lines: string[]) => lines.map((l) => JSON.parse(l).ticket);

test("replies come in request order even when the handler finishes them out of order", async () => {
  const { server } = start({ handle: echo((n) => (10 - n) * 15) });
  const c = await client(server.port);
  await c.write(Array.from({ length: 10 }, (_, i) => req(i)).join(""));
  expect(tickets(await c.waitLines(10))).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
});

test("requests written one byte at a time, with multibyte characters, are assembled", async () => {
  let seen = "";
  const { server } = start({ handle: async (line) => ((seen = JSON.parse(line).m), { status: "OK", ticket: "1" }) });
  const c = await client(server.port);
  c.socket.setNoDelay(true);
  const bytes = new TextEncoder().encode(JSON.stringify({ m: "Привет 👋" }) + "\n");
  for (const b of bytes) {
    await c.write(new Uint8Array([b]));
    await Bun.sleep(1);
  }
  await c.waitLines(1);
  expect(seen).toBe("Привет 👋");
});

test("a half-closed client (like `nc -N`) gets every reply, then the server closes", async () => {
  const { server } = start({ handle: echo(() => 50) });
  const c = await client(server.port);
  await c.write(req(1) + "\n\n" + req(2) + '{"n":3}'); // blank lines ignored; last line without "\n"
  c.end();
  expect(tickets(await c.waitLines(3))).toEqual(["1", "2", "3"]);
  expect(await c.waitClosed()).toBe(true);
});

test("a line over the limit: TOO_LARGE, connection closed, nothing after it is handled", async () => {
  let handled = 0;
  const { server, local } = start({ maxRequestBytes: 256, handle: async () => (handled++, { status: "OK", ticket: "1" }) });
  const c = await client(server.port);
  await c.write(req(1));
  await c.write("x".repeat(100_000)); // no newline: the server must not wait for one
  const lines = await c.waitLines(2);
  expect(JSON.parse(lines[1]!)).toMatchObject({ status: "ERROR", code: "TOO_LARGE" });
  expect(JSON.parse(lines[1]!).error).toContain("MAX_REQUEST_BYTES=256");
  expect(await c.waitClosed()).toBe(true);
  expect(handled).toBe(1);
  expect(local.map((r) => (r as { code: string }).code)).toEqual(["TOO_LARGE"]);
});

test("invalid UTF-8 is BAD_REQUEST; the connection goes on", async () => {
  const { server } = start();
  const c = await client(server.port);
  await c.write(new Uint8Array([0xc3, 0x28, 0x0a]));
  await c.write(req(5));
  const lines = await c.waitLines(2);
  expect(JSON.parse(lines[0]!)).toMatchObject({ code: "BAD_REQUEST", error: expect.stringContaining("UTF-8") });
  expect(JSON.parse(lines[1]!).ticket).toBe("5");
});

test("many large replies to a client that reads slowly: all arrive, in order (partial writes + drain)", async () => {
  const big = "é".repeat(20_000);
  const { server } = start({ handle: async (line) => errorReply("INVALID_MESSAGE", `${JSON.parse(line).n} ${big}`) });
  const c = await client(server.port);
  c.socket.pause(); // not reading: the server's writes back up
  await c.write(Array.from({ length: 300 }, (_, i) => req(i)).join(""));
  await Bun.sleep(200);
  c.socket.resume();
  const lines = await c.waitLines(300, 15_000);
  expect(lines.map((l) => Number(JSON.parse(l).error.split(" ")[0]))).toEqual(Array.from({ length: 300 }, (_, i) => i));
  expect(lines.every((l) => JSON.parse(l).error.endsWith(big))).toBe(true);
}, 20_000);

test("idle timeout: a silent connection is closed; traffic keeps one open", async () => {
  // The clock is the test's (setSystemTime moves Date.now, which the connections and the sweep
  // read): 0.8 s pass for the server while the busy client talks every 0.1 s, however slowly
  // this machine runs the test.
  const t0 = Date.now();
  setSystemTime(t0);
  try {
    const { server } = start({ idleTimeoutSec: 0.3, sweepMs: 20 });
    const silent = await client(server.port);
    const busy = await client(server.port);
    await until(() => server.connections === 2, 5000, "both connections");
    for (let i = 0; i < 8; i++) {
      setSystemTime(t0 + 100 * (i + 1));
      await busy.write(req(i));
      await busy.waitLines(i + 1); // the server has seen it: its last activity is now
    }
    expect(await silent.waitClosed(5000)).toBe(true);
    expect(busy.closed()).toBe(false);
    setSystemTime(t0 + 2000); // then the busy one falls silent too
    expect(await busy.waitClosed(5000)).toBe(true);
    expect(busy.lines().length).toBe(8);
  } finally {
    setSystemTime();
  }
});

test("a request in flight is not idle: its reply arrives even when it takes longer than the idle timeout", async () => {
  const { server } = start({ idleTimeoutSec: 0.1, sweepMs: 20, handle: echo(() => 400) });
  const c = await client(server.port);
  await c.write(req(1));
  expect(tickets(await c.waitLines(1))).toEqual(["1"]);
});

test("MAX_CONNECTIONS: one connection too many gets BUSY and is closed; a freed slot is reused", async () => {
  const { server, local } = start({ maxConnections: 2 });
  const a = await client(server.port);
  const b = await client(server.port);
  await a.write(req(1));
  await a.waitLines(1);
  const extra = await client(server.port);
  const [line] = await extra.waitLines(1);
  expect(JSON.parse(line!)).toMatchObject({ status: "ERROR", code: "BUSY", error: expect.stringContaining("MAX_CONNECTIONS=2") });
  expect(await extra.waitClosed()).toBe(true);
  expect(local.length).toBe(1);
  b.destroy();
  for (let i = 0; i < 100 && server.connections > 1; i++) await Bun.sleep(10);
  const next = await client(server.port);
  await next.write(req(7));
  expect(tickets(await next.waitLines(1))).toEqual(["7"]);
});

test("the idle timeout is measured on a monotonic clock: the system clock set back a day does not keep a silent connection open", async () => {
  const { server } = start({ idleTimeoutSec: 0.3 });
  const c = await client(server.port);
  try {
    setSystemTime(new Date(Date.now() - 86_400_000));
    expect(await c.waitClosed(3000)).toBe(true);
  } finally {
    setSystemTime();
  }
});

test("MAX_CONNECTIONS_PER_IP: one address cannot take every connection; the extra one gets one BUSY line naming the per-address limit", async () => {
  const { server, local } = start({ maxConnections: 100, maxConnectionsPerIp: 3 });
  const mine = await Promise.all([1, 2, 3].map(() => client(server.port)));
  await mine[0]!.write(req(1));
  await mine[0]!.waitLines(1);
  const extra = await client(server.port);
  const lines = await extra.waitLines(1);
  expect(await extra.waitClosed()).toBe(true);
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({ status: "ERROR", code: "BUSY", error: expect.stringContaining("MAX_CONNECTIONS_PER_IP=3") });
  expect(JSON.parse(lines[0]!).error).toContain("127.0.0.1");
  expect(local).toHaveLength(1);
  // another address is still served meanwhile (127.0.0.2 is this machine too)
  const other = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port: server.port, host: "127.0.0.1", localAddress: "127.0.0.2" }, () => resolve(s));
    s.on("error", reject);
  });
  const got = new Promise<string>((resolve) => other.once("data", (d) => resolve(d.toString())));
  other.write(req(9));
  expect(JSON.parse(await got)).toEqual({ status: "OK", ticket: "9" });
  other.destroy();
  // a freed slot of that address is reused
  mine[1]!.destroy();
  for (let i = 0; i < 100 && server.connections > 2; i++) await Bun.sleep(10);
  const again = await client(server.port);
  await again.write(req(5));
  expect(tickets(await again.waitLines(1))).toEqual(["5"]);
});

test("MAX_CONNECTIONS_PER_IP=0 turns the per-address limit off", async () => {
  const { server } = start({ maxConnections: 100, maxConnectionsPerIp: 0 });
  const many = await Promise.all(Array.from({ length: 20 }, () => client(server.port)));
  await many[19]!.write(req(3));
  expect(tickets(await many[19]!.waitLines(1))).toEqual(["3"]);
});

test("stop(): requests in flight are answered, new connections refused, then everything closes", async () => {
  const { server } = start({ handle: echo(() => 300) });
  const c = await client(server.port);
  await c.write(req(1) + req(2));
  await Bun.sleep(50);
  const stopped = server.stop(5000);
  expect(tickets(await c.waitLines(2))).toEqual(["1", "2"]);
  expect(await c.waitClosed()).toBe(true);
  await stopped;
  servers.length = 0;
  await expect(connectLines(server.port)).rejects.toThrow();
});

test("a handler that throws becomes INTERNAL for that request only", async () => {
  const { server } = start({ handle: async (line) => { if (JSON.parse(line).n === 2) throw new Error("boom"); return { status: "OK", ticket: "x" }; } });
  const c = await client(server.port);
  await c.write(req(1) + req(2) + req(3));
  const lines = await c.waitLines(3);
  expect(lines.map((l) => JSON.parse(l).status)).toEqual(["OK", "ERROR", "OK"]);
  expect(JSON.parse(lines[1]!).code).toBe("INTERNAL");
});

test("a second server cannot bind the same port", () => {
  const { server } = start();
  const other = new TcpServer({ host: "127.0.0.1", port: server.port, maxRequestBytes: 1024, idleTimeoutSec: 30, maxConnections: 10, handle: echo() });
  expect(() => other.start()).toThrow();
});
