// PROXY protocol v2 (haproxy send-proxy-v2): the header parser on its own, byte by byte, and the
// TCP server with PROXY_PROTOCOL on (header required, the real client becomes the peer) and off
// (a header is refused). The real haproxy in front of real servers: tests/process/multi-server.test.ts.
import { afterEach, expect, test } from "bun:test";
import { encodeProxyV2, ProxyHeaderParser, V2_SIGNATURE } from "../../lib/server/proxy-protocol";
import { TcpServer, type Peer } from "../../lib/server/tcp-server";
import type { Reply } from "../../lib/wire/protocol";
import { connectLines, type LineClient } from "../helpers/line-client";

const servers: TcpServer[] = [];
const clients: LineClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.stop(100);
});

const header = encodeProxyV2({ ip: "203.0.113.7", port: 40001 }, { ip: "127.0.0.1", port: 50007 });
const request = new TextEncoder().encode(`{"n":1}\n`);
const join = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
};

test("a v2 header fed one byte at a time gives the client's address and leaves the request bytes untouched", () => {
  const p = new ProxyHeaderParser();
  const bytes = join(header, request);
  let last;
  for (let i = 0; i < header.length; i++) {
    last = p.push(bytes.subarray(i, i + 1));
    if (i < header.length - 1) expect(last.kind).toBe("more");
  }
  expect(last).toEqual({ kind: "done", source: { ip: "203.0.113.7", port: 40001 }, rest: new Uint8Array(0) });
  const whole = new ProxyHeaderParser().push(bytes);
  expect(whole.kind === "done" && new TextDecoder().decode(whole.rest)).toBe(`{"n":1}\n`);
});

test("IPv6 (compressed, IPv4-mapped), LOCAL (a health check), TLVs after the addresses", () => {
  const v6 = (addr: number[], tlv: number[] = []) => {
    const body = [...addr, ...new Array(16).fill(0), 0x9c, 0x41, 0xc3, 0x57, ...tlv];
    return new Uint8Array([...V2_SIGNATURE, 0x21, 0x21, body.length >> 8, body.length & 255, ...body]);
  };
  const doc = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 0x01];
  expect(new ProxyHeaderParser().push(v6(doc, [0x05, 0x00, 0x02, 0xab, 0xcd]))).toMatchObject({ kind: "done", source: { ip: "2001:db8::1", port: 40001 } });
  const mapped = [...new Array(10).fill(0), 0xff, 0xff, 198, 51, 100, 9];
  expect(new ProxyHeaderParser().push(v6(mapped))).toMatchObject({ source: { ip: "198.51.100.9" } });
  const local = new Uint8Array([...V2_SIGNATURE, 0x20, 0x00, 0x00, 0x00]);
  expect(new ProxyHeaderParser().push(local)).toEqual({ kind: "done", source: null, rest: new Uint8Array(0) });
});

test("not a v2 header: plain JSON, v1 text, another version, a cut-short or oversized body", () => {
  const refused = (b: Uint8Array) => new ProxyHeaderParser().push(b);
  expect(refused(request)).toMatchObject({ kind: "refused", reason: "no PROXY protocol v2 header" });
  expect(refused(new TextEncoder().encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))).toMatchObject({ kind: "refused", reason: expect.stringContaining("v1") });
  expect(refused(new Uint8Array([...V2_SIGNATURE, 0x11, 0x11, 0, 12]))).toMatchObject({ kind: "refused", reason: expect.stringContaining("version 1") });
  expect(refused(new Uint8Array([...V2_SIGNATURE, 0x21, 0x11, 0, 4, 1, 2, 3, 4]))).toMatchObject({ kind: "refused", reason: expect.stringContaining("cut short") });
  expect(refused(new Uint8Array([...V2_SIGNATURE, 0x21, 0x11, 0xff, 0xff]))).toMatchObject({ kind: "refused", reason: expect.stringContaining("65535 bytes") });
});

function start(proxyProtocol: boolean, maxConnectionsPerIp = 0) {
  const peers: Peer[] = [];
  const local: Reply[] = [];
  const server = new TcpServer({
    host: "127.0.0.1",
    port: 0,
    maxRequestBytes: 1024,
    idleTimeoutSec: 30,
    maxConnections: 100,
    maxConnectionsPerIp,
    proxyProtocol,
    handle: async (_line, peer) => (peers.push(peer), { status: "OK", ticket: "10001" }),
    onLocalReply: (_p, r) => local.push(r),
  });
  server.start();
  servers.push(server);
  return { server, peers, local };
}

async function client(port: number) {
  const c = await connectLines(port);
  clients.push(c);
  return c;
}

test("PROXY_PROTOCOL=on: the header's client is the peer, also when the header and the request arrive in pieces", async () => {
  const { server, peers } = start(true);
  const c = await client(server.port);
  const bytes = join(header, request, request);
  for (let i = 0; i < bytes.length; i += 5) await c.write(bytes.subarray(i, i + 5));
  expect((await c.waitLines(2)).map((l) => JSON.parse(l).status)).toEqual(["OK", "OK"]);
  expect(peers.map((p) => p.label)).toEqual(["203.0.113.7:40001", "203.0.113.7:40001"]);
});

test("PROXY_PROTOCOL=on: a connection without the header is refused and closed; a health check (connect, close) leaves no trace", async () => {
  const { server, peers, local } = start(true);
  const probe = await client(server.port);
  probe.end();
  expect(await probe.waitClosed(2000)).toBe(true);
  expect(local).toEqual([]);
  const c = await client(server.port);
  await c.write(request);
  const [line] = await c.waitLines(1);
  expect(JSON.parse(line!)).toMatchObject({ status: "ERROR", code: "BAD_REQUEST", error: expect.stringContaining("PROXY_PROTOCOL=on") });
  expect(await c.waitClosed(2000)).toBe(true);
  expect(peers).toEqual([]);
});

test("PROXY_PROTOCOL=off: a v2 or v1 header is refused; requests (blank lines first, too) work as before", async () => {
  const { server, peers } = start(false);
  for (const h of [header, new TextEncoder().encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")]) {
    const c = await client(server.port);
    await c.write(join(h, request));
    const [line] = await c.waitLines(1);
    expect(JSON.parse(line!)).toMatchObject({ code: "BAD_REQUEST", error: expect.stringContaining("PROXY_PROTOCOL=off") });
    expect(await c.waitClosed(2000)).toBe(true);
  }
  expect(peers).toEqual([]);
  const ok = await client(server.port);
  await ok.write("\r\n");
  await ok.write(request);
  expect(JSON.parse((await ok.waitLines(1))[0]!).status).toBe("OK");
  expect(peers[0]!.ip).toBe("127.0.0.1");
});

test("PROXY_PROTOCOL=on: MAX_CONNECTIONS_PER_IP counts the address the header names, never the balancer's", async () => {
  const { server, peers, local } = start(true, 2);
  const from = (ip: string, port: number) => encodeProxyV2({ ip, port }, { ip: "127.0.0.1", port: 50007 });
  // three connections from the one balancer address (127.0.0.1), two clients behind it
  const a1 = await client(server.port);
  const a2 = await client(server.port);
  const b1 = await client(server.port);
  for (const [c, h] of [[a1, from("203.0.113.7", 1)], [a2, from("203.0.113.7", 2)], [b1, from("198.51.100.9", 3)]] as const) {
    await c.write(join(h, request));
    expect(JSON.parse((await c.waitLines(1))[0]!).status).toBe("OK");
  }
  const a3 = await client(server.port);
  await a3.write(join(from("203.0.113.7", 4), request));
  expect(JSON.parse((await a3.waitLines(1))[0]!)).toMatchObject({ code: "BUSY", error: expect.stringContaining("203.0.113.7 (MAX_CONNECTIONS_PER_IP=2)") });
  expect(await a3.waitClosed(2000)).toBe(true);
  expect(local.map((r) => r.status === "ERROR" && r.code)).toEqual(["BUSY"]);
  // one of that client's connections closes: its address has room again
  a1.destroy();
  await Bun.sleep(100);
  const a4 = await client(server.port);
  await a4.write(join(from("203.0.113.7", 5), request));
  expect(JSON.parse((await a4.waitLines(1))[0]!).status).toBe("OK");
  expect(peers.filter((p) => p.ip === "127.0.0.1")).toEqual([]);
});
