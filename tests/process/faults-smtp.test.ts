// SMTP faults against the real server.ts process: the SMTP server drops the connection in the
// middle of DATA, answers more slowly than SMTP_TIMEOUT, or is down — each gives the right
// MAIL_FAILED reason within a bounded time, the server keeps serving, and admin copies that
// could not be sent are delivered by the outbox once SMTP is back, each exactly once.
// (SMTP down at start and back later is in tests/server.test.ts.)
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { requestTicket, type TicketOutcome } from "../../lib/client/connection";
import { startFaultSink, type FaultSink } from "../helpers/fault-sink";
import { ADMIN, startServer, until } from "../helpers/hardening";
import { readState } from "../helpers/state";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sink(port = 0): Promise<FaultSink> {
  const s = await startFaultSink(port);
  cleanups.push(() => s.close());
  return s;
}

/** The reply as a flat record (an OK reply has no error text; "unreachable" has no reply). */
const reply = (o: TicketOutcome): { status: string; code?: string; error?: string } =>
  o.kind === "reply" ? o.reply : { status: "UNREACHABLE", code: "UNREACHABLE", error: o.error };
const ticket = (o: TicketOutcome) => (o.kind === "reply" && o.reply.status === "OK" ? o.reply.ticket : `not OK: ${JSON.stringify(o)}`);

/** Admin copies received per ticket number. */
function adminCopies(...sinks: FaultSink[]): Map<string, string[]> {
  const per = new Map<string, string[]>();
  for (const s of sinks) for (const m of s.messages) if (m.to[0] === ADMIN && m.ticket) per.set(m.ticket, [...(per.get(m.ticket) ?? []), m.messageId]);
  return per;
}

describe("the SMTP server misbehaves while sending the person's mail", () => {
  test("connection dropped in the middle of DATA: MAIL_FAILED saying the connection failed; nothing for the admin; the server goes on", async () => {
    const smtp = await sink();
    smtp.behave((r) => (r === "drop@example.com" ? "drop" : "accept"));
    const srv = await startServer(cleanups, smtp.port, "pw");
    // the client's own deadline (10 s) bounds the time: an unanswered request would come back "unreachable"
    const dropped = reply(await requestTicket("127.0.0.1", srv.port, "drop@example.com", "cut off", 10_000));
    console.log(`dropped mid-DATA: ${dropped.error}`);
    expect(dropped).toMatchObject({ status: "ERROR", code: "MAIL_FAILED" });
    expect(dropped.error).toBe("your message was not sent: the support mailbox is not available right now — try again later");
    expect(srv.output()).toMatch(new RegExp(`ERROR MAIL_FAILED \\(.*SMTP server at 127\\.0\\.0\\.1:${smtp.port}.*(closed|failed|ended|reset)`, "i"));
    expect(smtp.dropped).toBeGreaterThanOrEqual(1);
    expect(smtp.messages).toEqual([]); // no admin copy for a ticket the person never got
    // the pooled connection that died is not reused: the next requests go through
    for (let i = 0; i < 3; i++) expect(ticket(await requestTicket("127.0.0.1", srv.port, `ok${i}@example.com`, "fine", 10_000))).toMatch(/^\d{5,}$/);
    expect(srv.proc.exitCode).toBeNull();
  }, 30_000);

  test("SMTP answers more slowly than SMTP_TIMEOUT: MAIL_FAILED 'did not answer within SMTP_TIMEOUT', long before the server would have answered", async () => {
    const smtp = await sink();
    smtp.behave((r) => (r === "slow@example.com" ? { delayMs: 60_000 } : "accept"));
    const srv = await startServer(cleanups, smtp.port, "pw", { SMTP_TIMEOUT: "1" });
    const started = Date.now();
    const slow = reply(await requestTicket("127.0.0.1", srv.port, "slow@example.com", "stalled", 10_000));
    console.log(`SMTP stalled for 60 s, SMTP_TIMEOUT=1: MAIL_FAILED after ${Date.now() - started} ms`);
    expect(slow).toMatchObject({ code: "MAIL_FAILED", error: expect.stringContaining("the support mailbox is not available right now — try again later") });
    expect(srv.output()).toContain("did not answer within SMTP_TIMEOUT=1 s");
    expect(ticket(await requestTicket("127.0.0.1", srv.port, "fast@example.com", "fine", 10_000))).toMatch(/^\d{5,}$/);
    expect(srv.proc.exitCode).toBeNull();
  }, 30_000);
});

describe("admin copies across SMTP faults: queued, then delivered exactly once when SMTP is back", () => {
  test("admin copy dropped mid-DATA or timed out → queued; SMTP down meanwhile (MAIL_FAILED: connection refused); back → each copy once", async () => {
    let smtp = await sink();
    const port = smtp.port;
    const srv = await startServer(cleanups, port, "pw", { SMTP_TIMEOUT: "1", OUTBOX_RETRY: "0.4", SMTP_POOL_SIZE: "2" });

    // 1. the admin's copies are cut off in the middle of DATA
    smtp.behave((r) => (r === ADMIN ? "drop" : "accept"));
    const okTickets: string[] = [];
    for (let i = 0; i < 5; i++) okTickets.push(ticket(await requestTicket("127.0.0.1", srv.port, `p${i}@example.com`, `dropped copy ${i}`, 10_000)));
    // 2. then they stall past SMTP_TIMEOUT
    smtp.behave((r) => (r === ADMIN ? { delayMs: 60_000 } : "accept"));
    const stalled = await Promise.all([5, 6, 7].map((i) => requestTicket("127.0.0.1", srv.port, `p${i}@example.com`, `stalled copy ${i}`, 15_000)));
    okTickets.push(...stalled.map(ticket));
    for (const t of okTickets) expect(t).toMatch(/^\d{5,}$/);
    expect(srv.output().match(/admin=queued/g)?.length).toBe(8);
    expect(adminCopies(smtp).size).toBe(0);

    // 3. SMTP goes away altogether: new tickets fail with the right reason, the retries fail quietly
    await smtp.close();
    const down = reply(await requestTicket("127.0.0.1", srv.port, "late@example.com", "down", 10_000));
    expect(down).toMatchObject({ code: "MAIL_FAILED", error: expect.stringContaining("the support mailbox is not available right now — try again later") });
    expect(srv.output()).toContain(`cannot connect to the SMTP server at 127.0.0.1:${port}: connection refused`);
    await Bun.sleep(1000); // a couple of retry rounds against a dead server
    expect(srv.proc.exitCode).toBeNull();

    // 4. back, accepting everything: every queued copy arrives, once
    smtp = await sink(port);
    await until(() => adminCopies(smtp).size >= okTickets.length, 15_000, "the queued admin copies");
    await Bun.sleep(1500); // several more retry rounds: nothing may arrive twice
    const copies = adminCopies(smtp);
    expect([...copies.keys()].sort()).toEqual([...okTickets].sort());
    for (const [t, ids] of copies) expect({ t, n: ids.length }).toEqual({ t, n: 1 });
    expect(srv.output()).toMatch(/outbox: retried queued admin copies: \d+ sent, 0 dead, 0 still queued/);
    await srv.stop("SIGTERM");
    expect((await readState(srv.dir)).outbox).toMatchObject({ held: 0, ready: 0, sending: 0, dead: 0 });
  }, 60_000);
});
