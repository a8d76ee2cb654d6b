import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Outbox } from "../../lib/server/outbox";
import type { OutgoingMail } from "../../lib/server/smtp";
import { tempDir } from "../helpers/env";
import { down, FakeSender, refused } from "../fakes/fake-sender";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (README "Development")

const dirs: { cleanup: () => void }[] = [];
const boxes: Outbox[] = [];
afterEach(async () => {
  for (const b of boxes.splice(0)) await b.stop().catch(() => {});
  for (const d of dirs.splice(0)) d.cleanup();
});

function setup(sender: FakeSender, d?: string) {
  const path = d ?? (() => { const t = tempDir(); dirs.push(t); return t.path; })();
  const log = { info: [] as string[], error: [] as string[] };
  const box = Outbox.open(path, sender, { info: (l) => log.info.push(l), error: (l) => log.error.push(l) });
  boxes.push(box);
  return { box, log, dir: path };
}
/** Simulates a process that stops without closing (crash): the next Outbox reads the file. */
function abandon(box: Outbox) {
  boxes.splice(boxes.indexOf(box), 1);
}

const mail = (ticket: string): OutgoingMail => ({ from: "admin@x.test", to: "admin@x.test", replyTo: "ivan@example.com", subject: `[Ticket #${ticket}] Mailer`, text: "Привет 👋" });

test("a copy that goes out at once leaves nothing behind, across a restart too", async () => {
  const sender = new FakeSender();
  const { box, dir } = setup(sender);
  const id = await box.enqueue("10001", mail("10001"));
  expect(await box.deliver(id)).toBe("sent");
  expect(box.pending).toEqual([]);
  await box.stop();
  boxes.length = 0;
  const again = setup(sender, dir).box;
  expect(again.pending).toEqual([]);
  await again.retryAll();
  expect(sender.sent.length).toBe(1);
});

test("a copy that cannot be sent stays queued across a restart and is sent exactly once later", async () => {
  let smtpUp = false;
  const sender = new FakeSender(() => (smtpUp ? { ok: true, messageId: "<m>", response: "250" } : down()));
  const first = setup(sender);
  const id = await first.box.enqueue("10001", mail("10001"));
  expect(await first.box.deliver(id)).toBe("queued");
  expect(first.box.pending.map((e) => e.ticket)).toEqual(["10001"]);
  expect(first.box.pending[0]!.lastError).toContain("connection refused");
  await first.box.stop();
  boxes.length = 0;

  const second = setup(sender, first.dir);
  expect(second.box.pending.map((e) => e.ticket)).toEqual(["10001"]);
  await second.box.retryAll();
  expect(second.box.pending.length).toBe(1); // still down
  smtpUp = true;
  await second.box.retryAll();
  await second.box.retryAll();
  expect(second.box.pending).toEqual([]);
  expect(sender.sent.length).toBe(1);
  expect(sender.sent[0]!.text).toBe("Привет 👋");
  expect(second.log.info.join("\n")).toMatch(/1 sent, 0 dead, 0 still queued/);
});

test("a crash before the first attempt leaves the copy queued, with the same Message-ID and Date", async () => {
  const sender = new FakeSender();
  const first = setup(sender);
  await first.box.enqueue("10002", mail("10002"));
  abandon(first.box); // no deliver, no stop: the process died here
  const second = setup(sender, first.dir);
  const [entry] = second.box.pending;
  expect(entry!.mail.messageId).toMatch(/^<ticket-10002\..+@mailer>$/);
  await second.box.retryAll();
  expect(sender.sent.map((m) => m.messageId)).toEqual([entry!.mail.messageId]);
  expect(sender.sent[0]!.date).toBe(entry!.mail.date);
});

test("a permanent refusal makes a dead letter: reported loudly, kept, never retried", async () => {
  const sender = new FakeSender(() => refused("the SMTP server refused the recipient admin@x.test: 550 5.1.1 no such user"));
  const first = setup(sender);
  const id = await first.box.enqueue("10003", mail("10003"));
  expect(await first.box.deliver(id)).toBe("dead");
  expect(first.log.error.join("\n")).toMatch(/DEAD LETTER: the admin copy of ticket 10003 .*550 5\.1\.1.* will not be retried/);
  await first.box.retryAll();
  expect(sender.attempts.length).toBe(1);
  await first.box.stop();
  boxes.length = 0;
  const second = setup(sender, first.dir);
  expect(second.box.deadLetters.map((e) => [e.ticket, e.dead?.reason])).toEqual([["10003", expect.stringContaining("550 5.1.1")]]);
  expect(second.box.pending).toEqual([]);
  await second.box.retryAll();
  expect(sender.attempts.length).toBe(1);
  expect(readFileSync(join(first.dir, "outbox.jsonl"), "utf8")).toContain('"op":"dead"');
});

test("an attempt in flight is never doubled by the retry timer (exactly once)", async () => {
  const sender = new FakeSender(undefined, () => 50);
  const { box } = setup(sender);
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => box.enqueue(String(10010 + i), mail(String(10010 + i)))));
  const direct = ids.map((id) => box.deliver(id));
  await Promise.all([box.retryAll(), box.retryAll(), ...direct, box.deliver(ids[0]!)]);
  expect(sender.attempts.length).toBe(20);
  expect(new Set(sender.sent.map((m) => m.subject)).size).toBe(20);
});

test("a torn last line (crash in the middle of an append) is ignored; damaged lines elsewhere are kept aside", async () => {
  const sender = new FakeSender(() => down());
  const first = setup(sender);
  await first.box.enqueue("10020", mail("10020"));
  await first.box.stop();
  boxes.length = 0;
  appendFileSync(join(first.dir, "outbox.jsonl"), '{"op":"queued","id":"x","tic');
  const second = setup(sender, first.dir);
  expect(second.box.pending.map((e) => e.ticket)).toEqual(["10020"]);
  expect(second.log.error).toEqual([]);
  await second.box.stop();
  boxes.length = 0;
  appendFileSync(join(first.dir, "outbox.jsonl"), 'not json\n{"op":"sent","id":"nothing"}\n');
  const third = setup(sender, first.dir);
  expect(third.box.pending.map((e) => e.ticket)).toEqual(["10020"]);
  expect(third.log.error.join("\n")).toMatch(/1 damaged line\(s\).*kept in .*outbox\.damaged\./);
});

test("start() retries at once and then periodically", async () => {
  let up = false;
  const sender = new FakeSender(() => (up ? { ok: true, messageId: "<m>", response: "250" } : down()));
  const { box } = setup(sender);
  await box.enqueue("10030", mail("10030"));
  up = true;
  box.start(0.05);
  for (let i = 0; i < 100 && box.pending.length; i++) await Bun.sleep(20);
  expect(box.pending).toEqual([]);
  expect(sender.sent.length).toBe(1);
});

test("a held copy waits for release; after a crash it is delivered (the person's mail may have been accepted)", async () => {
  const sender = new FakeSender();
  const first = setup(sender);
  const held = await first.box.enqueue("10040", mail("10040"), { held: true });
  const cancelled = await first.box.enqueue("10041", mail("10041"), { held: true });
  expect(first.box.pending).toEqual([]);
  expect(await first.box.deliver(held)).toBe("queued");
  await first.box.retryAll();
  expect(sender.attempts).toEqual([]);
  first.box.cancel(cancelled);
  abandon(first.box); // crash while the first is still held

  const second = setup(sender, first.dir);
  expect(second.box.pending.map((e) => e.ticket)).toEqual(["10040"]);
  await second.box.retryAll();
  expect(sender.sent.map((m) => m.subject)).toEqual(["[Ticket #10040] Mailer"]);
});

test("release makes a held copy deliverable at once", async () => {
  const sender = new FakeSender();
  const { box } = setup(sender);
  const id = await box.enqueue("10050", mail("10050"), { held: true });
  box.release(id);
  expect(await box.deliver(id)).toBe("sent");
  expect(sender.sent.length).toBe(1);
});

test("concurrent enqueues share group commits: all resolve, all are on disk for the next process", async () => {
  const sender = new FakeSender();
  const first = setup(sender);
  const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => first.box.enqueue(String(20000 + i), mail(String(20000 + i)), { held: true })));
  expect(new Set(ids).size).toBe(200);
  abandon(first.box); // crash: nothing closed, nothing compacted
  const second = setup(sender, first.dir);
  expect(second.box.pending.length).toBe(200);
});

test("an enqueue that cannot be written rejects and leaves nothing queued", async () => {
  const { box } = setup(new FakeSender());
  const journal = (box as unknown as { journal: { appender: { fd: number } } }).journal.appender;
  const fd = journal.fd;
  journal.fd = 987654; // a descriptor that is not open: EBADF
  await expect(box.enqueue("10060", mail("10060"))).rejects.toThrow(/EBADF|bad file/i);
  expect(box.pending).toEqual([]);
  journal.fd = fd;
});
