// The outbox's delivery policy over the store: held until released, attempted once at a time,
// retried, dead letters kept; copies a dead process held or claimed are delivered by the next.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { Outbox } from "../../lib/server/outbox";
import { openStore } from "../../lib/store";
import { currentHolder } from "../../lib/store/holder";
import type { Holder, Store } from "../../lib/store/types";
import { useTempDirs } from "../helpers/kit";
import { down, FakeSender, refused } from "../fakes/fake-sender";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const dir = useTempDirs("mailer-outbox-");
const open: { box: Outbox; store: Store }[] = [];
afterEach(async () => {
  for (const { box, store } of open.splice(0)) {
    await box.stop().catch(() => {});
    await store.close();
  }
});

async function setup(sender: FakeSender, d = dir()) {
  const store = await openStore({ stateDir: d, logDir: join(d, "logs") });
  const log = { info: [] as string[], error: [] as string[] };
  const box = new Outbox(store.tickets, sender, { info: (l) => log.info.push(l), error: (l) => log.error.push(l) }, { claimMs: 60_000, retrySeconds: 0.05 });
  open.push({ box, store });
  return { box, store, log, dir: d };
}

const copy = (ticket: string) => ({ from: "admin@x.test", to: "admin@x.test", replyTo: "ivan@example.com", subject: `[Ticket #${ticket}] Mailer`, text: "Привет 👋" });
/** a process of this host that has ended */
const deadHolder: Holder = { pid: 2 ** 22 + 99, host: currentHolder().host, since: "2026-01-01T00:00:00.000Z" };

test("issue holds the copy; release sends it at once and leaves nothing queued", async () => {
  const sender = new FakeSender();
  const { box } = await setup(sender);
  const { ticket, copy: c } = await box.issue("ivan@example.com", copy);
  expect(ticket).toBe("10001");
  expect(c.mail.messageId).toMatch(/^<ticket-10001\..+@mailer>$/);
  await box.retryAll();
  expect(sender.attempts).toEqual([]); // held: not before the person's mail went out
  expect(await box.release(c.id)).toBe("sent");
  expect(sender.sent.map((m) => [m.subject, m.replyTo, m.messageId])).toEqual([["[Ticket #10001] Mailer", "ivan@example.com", c.mail.messageId]]);
  expect(await box.summary()).toMatchObject({ held: 0, ready: 0, sending: 0, dead: 0 });
});

test("a copy that cannot be sent stays queued across a restart and is sent exactly once later, same Message-ID", async () => {
  let smtpUp = false;
  const sender = new FakeSender(() => (smtpUp ? { ok: true, messageId: "<m>", response: "250" } : down()));
  const first = await setup(sender);
  const { copy: c } = await first.box.issue("ivan@example.com", copy);
  expect(await first.box.release(c.id)).toBe("queued");
  expect((await first.box.summary()).queued.map((q) => [q.ticket, q.lastError])).toEqual([["10001", expect.stringContaining("connection refused")]]);
  await first.box.stop();

  const second = await setup(sender, first.dir);
  await second.box.retryAll();
  expect((await second.box.summary()).ready).toBe(1); // still down
  smtpUp = true;
  await second.box.retryAll();
  await second.box.retryAll();
  expect((await second.box.summary()).ready).toBe(0);
  expect(sender.sent.map((m) => m.messageId)).toEqual([c.mail.messageId]);
  expect(second.log.info.join("\n")).toMatch(/1 sent, 0 dead, 0 still queued/);
});

test("a permanent refusal makes a dead letter: reported loudly, kept, never retried", async () => {
  const sender = new FakeSender(() => refused("the SMTP server refused the recipient admin@x.test: 550 5.1.1 no such user"));
  const first = await setup(sender);
  const { copy: c } = await first.box.issue("ivan@example.com", copy);
  expect(await first.box.release(c.id)).toBe("dead");
  expect(first.log.error.join("\n")).toMatch(/DEAD LETTER: the admin copy of ticket 10001 .*550 5\.1\.1.*not retried.*--requeue 10001/);
  await first.box.retryAll();
  expect(sender.attempts.length).toBe(1);
  await first.box.stop();
  const second = await setup(sender, first.dir);
  expect((await second.box.summary()).deadLetters.map((d) => [d.ticket, d.lastError])).toEqual([["10001", expect.stringContaining("550 5.1.1")]]);
  await second.box.retryAll();
  expect(sender.attempts.length).toBe(1);
});

test("copies held or being sent by a process that died are delivered by the next one, once", async () => {
  const sender = new FakeSender();
  const { box, store } = await setup(sender);
  const held = await store.tickets.issue({ requester: "a@example.com", adminCopy: copy, holder: deadHolder, holdMs: 600_000 });
  const sending = await store.tickets.issue({ requester: "b@example.com", adminCopy: copy, holder: deadHolder, holdMs: 600_000 });
  await store.tickets.release(sending.copy.id, { holder: deadHolder, claimMs: 600_000 });
  const cancelled = await store.tickets.issue({ requester: "c@example.com", adminCopy: copy, holder: deadHolder, holdMs: 600_000 });
  await store.tickets.cancel(cancelled.copy.id);
  await box.retryAll();
  expect(sender.attempts).toEqual([]); // protected until someone sees the holder is gone
  expect(await box.recover()).toBe(2);
  await box.retryAll();
  expect(sender.sent.map((m) => m.subject).sort()).toEqual([held.copy.mail.subject, sending.copy.mail.subject].sort());
});

test("an attempt in flight is never doubled by retry rounds (exactly once)", async () => {
  const sender = new FakeSender(undefined, () => 50);
  const { box, store } = await setup(sender);
  const issued = await Promise.all(Array.from({ length: 20 }, () => box.issue("ivan@example.com", copy)));
  // half released for direct delivery by this process, half left to the retry rounds
  for (const t of issued.slice(10)) await store.tickets.release(t.copy.id);
  const direct = issued.slice(0, 10).map((t) => box.release(t.copy.id));
  await Promise.all([box.retryAll(), box.retryAll(), ...direct, box.release(issued[0]!.copy.id)]);
  await box.retryAll();
  expect(sender.attempts.length).toBe(20);
  expect(new Set(sender.sent.map((m) => m.subject)).size).toBe(20);
});

test("start() retries at once and then every OUTBOX_RETRY", async () => {
  let up = false;
  const sender = new FakeSender(() => (up ? { ok: true, messageId: "<m>", response: "250" } : down()));
  const { box } = await setup(sender);
  const { copy: c } = await box.issue("ivan@example.com", copy);
  await box.release(c.id);
  up = true;
  box.start();
  for (let i = 0; i < 100 && sender.sent.length === 0; i++) await Bun.sleep(20);
  expect(sender.sent.length).toBe(1);
});
