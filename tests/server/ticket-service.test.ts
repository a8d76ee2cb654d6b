import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { Outbox } from "../../lib/server/outbox";
import { RateLimiter } from "../../lib/server/rate-limit";
import { parseSubject } from "../../lib/shared/subject";
import { TicketService } from "../../lib/server/ticket-service";
import { openStore } from "../../lib/store";
import type { Store } from "../../lib/store/types";
import { tempDir } from "../helpers/env";
import { until } from "../helpers/kit";
import { down, FakeSender, refused } from "../fakes/fake-sender";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ADMIN = "admin@mailer.test";

async function setup(opts: { sender?: FakeSender; perMinute?: number; perHour?: number; now?: () => number; adminWaitMs?: number } = {}) {
  const dir = tempDir();
  const sender = opts.sender ?? new FakeSender();
  const errors: string[] = [];
  const store = await openStore({ stateDir: dir.path, logDir: join(dir.path, "logs") });
  const outbox = new Outbox(store.tickets, sender, { info: () => {}, error: (l) => errors.push(l) }, { claimMs: 60_000, retrySeconds: 30 });
  cleanups.push(dir.cleanup, () => store.close(), () => outbox.stop());
  const service = new TicketService({
    adminEmail: ADMIN,
    maxMessageChars: 100,
    sender,
    outbox,
    perClient: new RateLimiter(opts.perMinute ?? 0, 60_000, opts.now),
    perRecipient: new RateLimiter(opts.perHour ?? 0, 3_600_000, opts.now),
    logError: (l) => errors.push(l),
    adminWaitMs: opts.adminWaitMs,
  });
  return { service, sender, outbox, store, errors, dir: dir.path };
}
const queuedTickets = async (store: Store) => (await store.tickets.summary()).queued.map((q) => q.ticket);
const req = (email: string, message: string) => JSON.stringify({ email, message });

test("OK: the user's message, then the admin's copy with Reply-To; subject round-trips", async () => {
  const { service, sender } = await setup();
  const out = await service.handle(req("  ivan@Пример.рф ", "Привет, мир 👋\r\nвторая строка  \n"), "127.0.0.1");
  expect(out.reply).toEqual({ status: "OK", ticket: "10001" });
  expect(out.admin).toBe("sent");
  expect(sender.sent.length).toBe(2);
  const [user, admin] = sender.sent;
  expect(user).toEqual({ from: ADMIN, to: "ivan@xn--e1afmkfd.xn--p1ai", subject: "[Ticket #10001] Mailer", text: "Привет, мир 👋\nвторая строка" });
  expect(admin).toMatchObject({ from: ADMIN, to: ADMIN, replyTo: "ivan@xn--e1afmkfd.xn--p1ai", subject: user!.subject, text: user!.text });
  expect(parseSubject(admin!.subject)).toEqual({ ticket: "10001", reply: false });
});

test("validation errors name the field and send nothing", async () => {
  const { service, sender } = await setup();
  const bad = await service.handle(req("not-an-address", "hi"), "127.0.0.1");
  expect(bad.reply).toMatchObject({ status: "ERROR", code: "INVALID_EMAIL", field: "email" });
  const injected = await service.handle(req("a@example.com\r\nBcc: evil@example.org", "hi"), "127.0.0.1");
  expect(injected.reply).toMatchObject({ code: "INVALID_EMAIL", field: "email" });
  const empty = await service.handle(req("a@example.com", "  \n "), "127.0.0.1");
  expect(empty.reply).toMatchObject({ code: "INVALID_MESSAGE", field: "message" });
  const long = await service.handle(req("a@example.com", "x".repeat(101)), "127.0.0.1");
  expect(long.reply).toMatchObject({ code: "INVALID_MESSAGE" });
  const shape = await service.handle('{"email":1}', "127.0.0.1");
  expect(shape.reply).toMatchObject({ code: "BAD_REQUEST" });
  expect(sender.attempts).toEqual([]);
});

test("the user's message refused: MAIL_FAILED with the server's reason, and the admin gets nothing", async () => {
  const sender = new FakeSender(() => refused("the SMTP server at h:25 refused the recipient nobody@example.com: 550 5.1.1 User unknown"));
  const { service, store } = await setup({ sender });
  const out = await service.handle(req("nobody@example.com", "hi"), "127.0.0.1");
  expect(out.reply).toMatchObject({ status: "ERROR", code: "MAIL_FAILED", field: "email" });
  expect((out.reply as { error: string }).error).toContain("550 5.1.1 User unknown");
  expect(sender.attempts.length).toBe(1);
  expect(await queuedTickets(store)).toEqual([]);
});

test("a refusal the person cannot act on (login, TLS, connection, timeout): the person is told the mailbox is not available; the precise reason is for the server's log", async () => {
  const operatorReasons: [kind: "auth" | "tls" | "connect" | "timeout" | "dns", error: string][] = [
    ["auth", "the SMTP server at h:587 refused the login for EMAIL_LOGIN=admin@x (535 5.7.8) — check EMAIL_PASSWORD"],
    ["tls", "TLS with the SMTP server at h:587 failed: the certificate was not accepted — set TLS_CA_FILE"],
    ["connect", "cannot connect to the SMTP server at 127.0.0.1:1: connection refused — is it running, and are SMTP_HOST/SMTP_PORT right?"],
    ["timeout", "the SMTP server at h:587 did not answer within SMTP_TIMEOUT=15 s — check SMTP_HOST/SMTP_PORT"],
    ["dns", "cannot resolve SMTP_HOST=nowhere (ENOTFOUND) — check the host name"],
  ];
  for (const [kind, error] of operatorReasons) {
    const { service } = await setup({ sender: new FakeSender(() => ({ ok: false, kind, error, permanent: false })) });
    const out = await service.handle(req("a@example.com", "hi"), "127.0.0.1");
    expect(out.reply).toEqual({ status: "ERROR", code: "MAIL_FAILED", error: "your message was not sent: the support mailbox is not available right now — try again later" });
    expect(out.detail).toBe(error);
  }
  // a refusal of the person's own address stays precise for the person
  const { service } = await setup({ sender: new FakeSender(() => refused("the SMTP server at h:25 refused the recipient nobody@example.com: 550 5.1.1 User unknown")) });
  const own = await service.handle(req("nobody@example.com", "hi"), "127.0.0.1");
  expect(own.reply).toMatchObject({ code: "MAIL_FAILED", field: "email", error: expect.stringContaining("550 5.1.1 User unknown") });
});

test("the admin copy failing still answers OK: the copy is queued durably", async () => {
  const sender = new FakeSender((m) => (m.to === ADMIN ? down() : { ok: true, messageId: "<u>", response: "250" }));
  const { service, store } = await setup({ sender });
  const out = await service.handle(req("a@example.com", "hi"), "127.0.0.1");
  expect(out.reply).toEqual({ status: "OK", ticket: "10001" });
  expect(out.admin).toBe("queued");
  expect(await queuedTickets(store)).toEqual(["10001"]);
});

test("the reply never waits on a hung admin copy longer than adminWaitMs: OK with admin=queued, and the attempt goes on to its end", async () => {
  let finish!: () => void;
  const hung = new Promise<void>((r) => (finish = r));
  const sender = new FakeSender(async (m) => {
    if (m.to === ADMIN) await hung; // the admin copy's DATA trickles
    return { ok: true, messageId: "<x>", response: "250" };
  });
  const { service, store } = await setup({ sender, adminWaitMs: 50 });
  const out = await service.handle(req("a@example.com", "hi"), "127.0.0.1");
  expect(out.reply).toEqual({ status: "OK", ticket: "10001" });
  expect(out.admin).toBe("queued");
  expect(sender.sent.map((m) => m.to)).toEqual(["a@example.com"]);
  finish();
  await until(() => sender.sent.length === 2, 2000, "the admin copy's attempt to end");
  // the outbox records it as sent
  for (const deadline = Date.now() + 2000; (await queuedTickets(store)).length > 0; await Bun.sleep(20)) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the outbox to record the admin copy as sent");
  }
});

test("1,000 concurrent requests, sends finishing out of order: 1,000 unique tickets", async () => {
  const sender = new FakeSender(undefined, () => Math.floor(Math.random() * 5));
  const { service } = await setup({ sender });
  const outs = await Promise.all(Array.from({ length: 1000 }, (_, i) => service.handle(req(`u${i}@example.com`, `m${i}`), `10.0.${i % 250}.1`)));
  const tickets = outs.map((o) => (o.reply.status === "OK" ? o.reply.ticket : "error"));
  expect(tickets.filter((t) => t === "error")).toEqual([]);
  expect(new Set(tickets).size).toBe(1000);
  expect(sender.sent.length).toBe(2000);
}, 20_000);

test("rate limits: per client per minute and per recipient per hour, with retryAfter", async () => {
  let t = 0;
  const { service, sender } = await setup({ perMinute: 2, perHour: 3, now: () => t });
  expect((await service.handle(req("a@example.com", "1"), "10.0.0.1")).reply.status).toBe("OK");
  expect((await service.handle(req("b@example.com", "2"), "10.0.0.1")).reply.status).toBe("OK");
  const limited = await service.handle(req("c@example.com", "3"), "10.0.0.1");
  expect(limited.reply).toMatchObject({ code: "RATE_LIMITED", retryAfter: 60 });
  expect((limited.reply as { error: string }).error).toMatch(/10\.0\.0\.1 .*2 tickets per minute.*try again in 60 seconds/);
  // Refused requests do not count: an invalid request is not rate limited and costs nothing.
  expect((await service.handle(req("bad", "x"), "10.0.0.1")).reply).toMatchObject({ code: "INVALID_EMAIL" });

  // Per recipient, across clients; case of the address does not matter.
  expect((await service.handle(req("A@example.com", "4"), "10.0.0.2")).reply.status).toBe("OK");
  const r2 = await service.handle(req("a@EXAMPLE.com", "5"), "10.0.0.3");
  expect(r2.reply.status).toBe("OK");
  const r3 = await service.handle(req("a@example.com", "6"), "10.0.0.4");
  expect(r3.reply).toMatchObject({ code: "RATE_LIMITED", field: "email", retryAfter: 3600 });
  // seconds on the wire, words for the person
  expect((r3.reply as { error: string }).error).toMatch(/limit 3 tickets per hour per address\) — try again in 60 minutes$/);
  t += 61_000;
  expect((await service.handle(req("a@example.com", "6"), "10.0.0.4")).reply).toMatchObject({ retryAfter: 3539, error: expect.stringMatching(/try again in 59 minutes$/) });
  t += 61_000;
  expect((await service.handle(req("c@example.com", "7"), "10.0.0.1")).reply.status).toBe("OK");
  expect(sender.sent.length).toBe(2 * 5);
});

test("an exception inside becomes INTERNAL, logged, without details for the client", async () => {
  const { service, sender, outbox, errors } = await setup();
  outbox.issue = () => {
    throw new Error("EIO: disk on fire");
  };
  const out = await service.handle(req("a@example.com", "hi"), "127.0.0.1");
  expect(out.reply).toMatchObject({ status: "ERROR", code: "INTERNAL" });
  expect((out.reply as { error: string }).error).not.toContain("disk on fire");
  expect(errors.join("\n")).toContain("disk on fire");
  expect(sender.attempts).toEqual([]);
});

test("the admin copy is held durably BEFORE the person's mail is sent: a crash after acceptance loses nothing", async () => {
  let heldAtUserSend: unknown[] = [];
  let stateDir = "";
  // The "crash": the person's mail is accepted; what a second process sees in the store then.
  const sender = new FakeSender(async (m) => {
    if (m.to !== ADMIN) {
      const other = await openStore({ stateDir, logDir: join(stateDir, "logs") });
      heldAtUserSend = (await other.tickets.summary()).queued;
      await other.close();
    }
    return { ok: true, messageId: "<u>", response: "250" };
  });
  const { service, store, dir } = await setup({ sender });
  stateDir = dir;
  await service.handle(req("a@example.com", "hi"), "127.0.0.1");
  expect(heldAtUserSend).toMatchObject([{ ticket: "10001", state: "held", mail: { to: ADMIN, replyTo: "a@example.com" } }]);
  expect(await queuedTickets(store)).toEqual([]);
});

test("a held copy is never sent by the retry timer while the person's mail is in flight, and cancelled if it fails", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const sender = new FakeSender(async (m) => {
    if (m.to !== ADMIN) {
      await gate;
      return refused("550 5.1.1 User unknown");
    }
    return { ok: true, messageId: "<a>", response: "250" };
  });
  const { service, outbox, store } = await setup({ sender });
  const pendingReply = service.handle(req("nobody@example.com", "hi"), "127.0.0.1");
  await Bun.sleep(5);
  await outbox.retryAll(); // the periodic retry fires while the person's mail is in flight
  expect(sender.sent.filter((m) => m.to === ADMIN)).toEqual([]);
  release();
  expect((await pendingReply).reply).toMatchObject({ code: "MAIL_FAILED" });
  await outbox.retryAll();
  expect(sender.attempts.filter((m) => m.to === ADMIN)).toEqual([]);
  expect(await queuedTickets(store)).toEqual([]);
  expect([...(await store.tickets.ledger(["10001"])).values()].map((l) => l.accepted)).toEqual([false]);
});

test("an outbox that cannot be written refuses the request with INTERNAL and sends nothing", async () => {
  const { service, sender, outbox, errors } = await setup();
  outbox.issue = async () => {
    throw new Error("ENOSPC: no space left on device");
  };
  const out = await service.handle(req("a@example.com", "hi"), "127.0.0.1");
  expect(out.reply).toMatchObject({ status: "ERROR", code: "INTERNAL" });
  expect((out.reply as { error: string }).error).toContain("cannot write its outbox");
  expect(sender.attempts).toEqual([]);
  expect(errors.join("\n")).toContain("ENOSPC");
});
