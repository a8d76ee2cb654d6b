// Several servers on one PostgreSQL behind the real haproxy (send-proxy-v2, TCP health checks):
// numbers unique across all of them, every person's mail with its admin copy, a server killed
// with -9 in the middle (no number twice, its held copies delivered by the others), shared rate
// limits, and the real client address through the PROXY header.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { openPostgresStore } from "../../lib/store/postgres/store";
import type { Store } from "../../lib/store/types";
import { encodeProxyV2 } from "../../lib/server/proxy-protocol";
import { freePort, runEntry, tempDir } from "../helpers/env";
import { ADMIN, serverEnv, startServer, type Running } from "../helpers/hardening";
import { dropDatabase, freshDatabase, requirePgstack, startHaproxy, type Haproxy } from "../helpers/pgstack";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink";
import { runTicketLoad, type LoadResult } from "../helpers/ticket-load";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const pg = requirePgstack();
const cleanups: (() => unknown)[] = [];
let url = "";
let sink: SmtpSink;
let store: Store;

/** SMTP_TIMEOUT=1: a held or claimed copy is protected for 10 s, then due for any server. */
const FAST = { PROXY_PROTOCOL: "on", SMTP_TIMEOUT: "1", OUTBOX_RETRY: "1", SMTP_POOL_SIZE: "4", MAX_CONNECTIONS: "1000" };

beforeAll(async () => {
  if (!pg) return;
  url = await freshDatabase(pg, "multi");
  sink = await startSmtpSink();
  store = await openPostgresStore({ url });
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (!pg) return;
  await store?.close();
  await sink?.close();
  await dropDatabase(pg, url);
});

async function servers(n: number, extra: Record<string, string> = {}): Promise<Running[]> {
  const out: Running[] = [];
  for (let i = 0; i < n; i++) out.push(await startServer(cleanups, sink.port, "pw", { STATE_DATABASE_URL: url, ...FAST, ...extra }));
  return out;
}

async function balancer(backends: Running[]): Promise<Haproxy> {
  const dir = tempDir("mailer-haproxy-");
  cleanups.push(dir.cleanup);
  const h = await startHaproxy(pg!, dir.path, freePort(), backends.map((b) => b.port));
  cleanups.push(() => h.stop());
  return h;
}

/** Every OK request has exactly its person's mail and at least one admin copy, same ticket. */
function expectMailFor(ok: LoadResult[]): void {
  const byText = new Map<string, { person: number; admin: number; subjects: Set<string> }>();
  for (const m of sink.messages) {
    const text = (m.parsed.text ?? "").trim();
    const e = byText.get(text) ?? { person: 0, admin: 0, subjects: new Set() };
    if (m.to.includes(ADMIN)) e.admin++;
    else e.person++;
    e.subjects.add(m.parsed.subject ?? "");
    byText.set(text, e);
  }
  for (const r of ok) {
    const e = byText.get(r.text);
    expect({ text: r.text, person: e?.person, admin: (e?.admin ?? 0) > 0, subjects: [...(e?.subjects ?? [])] }).toEqual({
      text: r.text,
      person: 1,
      admin: true,
      subjects: [`[Ticket #${r.ticket}] Mailer`],
    });
  }
}

async function outboxEmpty(): Promise<void> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    const s = await store.tickets.summary(0);
    if (s.held + s.ready + s.sending === 0) return;
    if (Date.now() > deadline) throw new Error(`outbox not empty: ${JSON.stringify({ held: s.held, ready: s.ready, sending: s.sending })}`);
    await Bun.sleep(200);
  }
}

describe.skipIf(!pg)("several servers on one PostgreSQL behind haproxy", () => {
  test("3 servers, 3,000 tickets from 50 connections: every number unique, every person's mail with its admin copy, each server used", async () => {
    const three = await servers(3);
    const h = await balancer(three);
    const results = await runTicketLoad({ port: h.port, connections: 50, total: 3000, tag: "three" });
    const ok = results.filter((r) => r.status === "OK");
    expect(results.filter((r) => r.status !== "OK").map((r) => `${r.id} ${r.status} ${r.code ?? ""}`)).toEqual([]);
    expect(new Set(ok.map((r) => r.ticket)).size).toBe(3000);
    await sink.waitFor(6000, 60_000);
    await outboxEmpty();
    expectMailFor(ok);
    // round robin over 50 connections: every server answered some, and logged the real client
    for (const s of three) expect(s.output()).toMatch(/127\.0\.0\.1:\d+ OK ticket=\d+/);
    // haproxy's health checks (a connect and a close every 500 ms) leave no trace in the logs
    for (const s of three) expect(s.output()).not.toMatch(/ERROR (BAD_REQUEST|INTERNAL)/);
    for (const s of three) await s.stop();
  }, 180_000);

  test("kill -9 of one of three servers in the middle: no number twice, every OK ticket mailed, its held copies delivered by the others", async () => {
    const before = sink.messages.length;
    const three = await servers(3);
    const h = await balancer(three);
    let killed = false;
    const results = await runTicketLoad({
      port: h.port,
      connections: 30,
      total: 1500,
      tag: "kill",
      onResult: (_r, done) => {
        if (!killed && done >= 500) {
          killed = true;
          three[1]!.proc.kill("SIGKILL");
        }
      },
    });
    const ok = results.filter((r) => r.status === "OK");
    const tickets = ok.map((r) => r.ticket);
    expect(new Set(tickets).size).toBe(tickets.length);
    expect(ok.length).toBeGreaterThan(1000);
    // nothing but OK, or a request whose connection died with its server
    expect(results.filter((r) => r.status === "ERROR").map((r) => r.code)).toEqual([]);
    // the dead server's held and claimed copies: due once their claim runs out, sent by the others
    await outboxEmpty();
    await Bun.sleep(500);
    expectMailFor(ok);
    // every ticket the ledger says was accepted has its admin copy, whoever issued it
    const accepted = [...(await store.tickets.ledger(tickets.map(String)))].filter(([, l]) => l.accepted).map(([t]) => t);
    const adminSubjects = new Set(sink.messages.slice(before).filter((m) => m.to.includes(ADMIN)).map((m) => m.parsed.subject));
    for (const t of accepted) expect(adminSubjects.has(`[Ticket #${t}] Mailer`)).toBe(true);
    for (const s of [three[0]!, three[2]!]) await s.stop();
  }, 180_000);

  test("rate limits are shared: one client reaching three servers gets RATE_LIMIT_PER_MINUTE tickets in all, not three times as many", async () => {
    const three = await servers(3, { RATE_LIMIT_PER_MINUTE: "5" });
    const header = encodeProxyV2({ ip: "198.51.100.20", port: 40000 }, { ip: "127.0.0.1", port: 50007 });
    const replies: LoadResult[] = [];
    for (const s of three) replies.push(...(await runTicketLoad({ port: s.port, connections: 1, total: 4, preamble: header, tag: `rate ${s.port}` })));
    expect(replies.filter((r) => r.status === "OK").length).toBe(5);
    expect(replies.filter((r) => r.code === "RATE_LIMITED").length).toBe(7);
    // the servers counted the address from the PROXY header, not the connection's
    expect(three.map((s) => s.output()).join("")).toContain("198.51.100.20:40000 ERROR RATE_LIMITED");
    for (const s of three) await s.stop();
  }, 60_000);

  test("a database that cannot be used stops the server at start with a clear error: exit 3 unreachable, exit 2 login refused or bad settings", async () => {
    const dir = tempDir("mailer-pgerr-");
    cleanups.push(dir.cleanup);
    const down = new URL(url);
    down.port = String(freePort());
    const badLogin = new URL(url);
    badLogin.password = "not-the-password";
    const run = (extra: Record<string, string>) => runEntry("server.ts", [], serverEnv(sink.port, dir.path, "pw", extra));
    const unreachable = await run({ STATE_DATABASE_URL: down.toString() });
    expect([unreachable.code, unreachable.stderr]).toEqual([3, expect.stringContaining("cannot reach the PostgreSQL database")]);
    const refused = await run({ STATE_DATABASE_URL: badLogin.toString() });
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining("refused the login")]);
    expect(refused.stderr).not.toContain("not-the-password");
    const settings = await run({ STATE_DATABASE_URL: "mysql://x@y/z", PROXY_PROTOCOL: "maybe" });
    expect(settings.code).toBe(2);
    expect(settings.stderr).toContain("STATE_DATABASE_URL is not valid");
    expect(settings.stderr).toContain('PROXY_PROTOCOL="maybe" is not valid');
  }, 60_000);
});
