// What the collector does to keep up with a backlog without giving up a guarantee
// (lib/collector/parser-policy.ts, group-commit.ts, imap-mailbox.ts sizes, lib/shared/jsonl.ts,
// lib/shared/mail-text.ts convertHtml):
// - small mail is parsed on the main thread; HTML that needs converting and large mail go to
//   the worker, where a parser that does not finish is stopped: one error entry, the rest fine;
// - the checkpoint never claims a message the log does not hold, at any moment of a backlog;
// - a line per message for a few messages, a line per batch for a backlog.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CollectorOptions } from "../../lib/collector/collector";
import { MailerError } from "../../lib/shared/errors";
import { JsonlAppender } from "../../lib/shared/jsonl";
import { ERROR_LOG, SUCCESS_LOG } from "../../lib/collector/log";
import { testCollector } from "../helpers/state";
import { ImapMailbox, SMALL_MESSAGE } from "../../lib/collector/imap-mailbox";
import { MemoryMailbox } from "../fakes/memory-mailbox";
import { parseMail } from "../../lib/shared/mail-text";
import { ParsePool } from "../../lib/collector/parse-pool";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const plain = (subject: string, body = "text") => `From: ivan@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
const html = (subject: string, body: string) => `From: ivan@example.com\r\nSubject: ${subject}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${body}\r\n`;

async function setup(extra: Partial<CollectorOptions> = {}, pool = new ParsePool()) {
  const t = tempDir("mailer-thru-");
  const logDir = join(t.path, "logs");
  const stateDir = join(t.path, "state");
  const lines: string[] = [];
  const c = await testCollector(logDir, stateDir, { out: (l) => lines.push(l), ...extra }, pool);
  cleanups.push(t.cleanup, c.close);
  const { collector, checkpoint } = c;
  const read = (file: string) => (existsSync(join(logDir, file)) ? readFileSync(join(logDir, file), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
  const all = () => [...read(SUCCESS_LOG), ...read(ERROR_LOG)].sort((a, b) => a.uid - b.uid);
  return { collector, log: c.log, lines, logDir, stateDir, all, checkpoint, errors: () => read(ERROR_LOG) };
}

test("small plain mail is parsed on the main thread: logged even when the worker cannot start", async () => {
  const box = new MemoryMailbox(500);
  box.add(plain("[Ticket #10001] Mailer", "на главном потоке"));
  box.add(plain("hello"));
  const c = await setup({}, new ParsePool({ workerUrl: new URL("./no-such-parse-worker.ts", import.meta.url).href }));
  expect(await c.collector.check(box)).toMatchObject({ tickets: 1, errors: 1 });
  expect(c.all().map((e) => [e.uid, e.text])).toEqual([[1, "на главном потоке"], [2, "text"]]);
});

test("HTML that needs converting goes to the worker: the same text as a full parse; a broken worker stops the check instead of logging it unparsed", async () => {
  const box = new MemoryMailbox(500);
  box.add(html("Lunch?", "<p>Pizza <b>today</b>?</p>"));
  const c = await setup();
  await c.collector.check(box);
  expect(c.all().map((e) => e.text)).toEqual(["Pizza today?"]);

  const broken = await setup({}, new ParsePool({ workerUrl: new URL("./no-such-parse-worker.ts", import.meta.url).href }));
  const err = await broken.collector.check(box).then(() => null, (e) => e);
  expect(err).toBeInstanceOf(MailerError);
  expect(err.kind).toBe("parser");
  expect(broken.all()).toEqual([]);
});

test("the worker stopped on one message (deadline) among others routed to it: one entry per message, exactly one error for the culprit", async () => {
  const box = new MemoryMailbox(500);
  box.add(html("a", "<p>first</p>"));
  box.add(html("slow", `<p>${"y".repeat(20_000)}</p>`)); // the only one over the deadline's size
  box.add(html("b", "<p>third</p>"));
  box.add(plain("[Ticket #10002] Mailer", "inline"));
  box.add(plain("big", "z".repeat(30_000))); // over inlineUpTo: whole to the worker, but under the deadline's size
  const pool = new ParsePool({ deadlineMs: (size) => (size > 20_000 && size < 30_000 ? 1 : 10_000) });
  const c = await setup({ inlineUpTo: 25_000 }, pool);
  await c.collector.check(box);
  const all = c.all();
  expect(all.map((e) => e.uid)).toEqual([1, 2, 3, 4, 5]);
  expect(all.filter((e) => /parsing took longer/.test(e.reason ?? "")).map((e) => e.uid)).toEqual([2]);
  expect(all.map((e) => e.text)).toEqual(["first", "", "third", "inline", "z".repeat(30_000)]);
});

test("a message the parser rejects on the main thread is one error entry; the next one goes through", async () => {
  const box = new MemoryMailbox(500);
  // more MIME parts than mailparser allows: rejected (after parseMail's 1 s wait for 'end')
  box.add(`Subject: parts\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${"--b\r\n\r\nx\r\n".repeat(3000)}--b--\r\n`);
  box.add(plain("[Ticket #10003] Mailer", "fine"));
  const c = await setup();
  expect(await c.collector.check(box)).toMatchObject({ tickets: 1, errors: 1 });
  expect(c.errors()[0]).toMatchObject({ uid: 1, reason: expect.stringMatching(/^the message could not be parsed: /) });
}, 10_000);

test("group commit: at every fetch of a backlog the checkpoint claims only UIDs the log holds, and at the end all of them", async () => {
  const box = new MemoryMailbox(500);
  for (let i = 0; i < 60; i++) box.add(plain(i % 2 ? `[Ticket #${20000 + i}] Mailer` : `m${i}`, `n${i}`));
  // Each fetch waits until every commit under way has written its checkpoint, so what is seen
  // does not depend on how fast the disk or the machine is: commits start after every 7
  // messages (batches of 5), and each is seen at a later fetch.
  let started = 0;
  let finished = 0;
  let settled: (() => void) | null = null;
  const c = await setup({ batchSize: 5, commitEvery: 7, commitMs: 60_000, onCommit: () => (finished++, settled?.()) });
  // the commits of the group commit (the plan's own checkpoint write, before any fetch, is not one)
  let fetching = false;
  const commit = c.log.commit.bind(c.log);
  c.log.commit = (state) => (fetching && started++, commit(state));
  const violations: string[] = [];
  const checkpointsSeen = new Set<string>();
  const fetch = box.fetchSources.bind(box);
  box.fetchSources = async (uids) => {
    fetching = true;
    while (finished < started) await new Promise<void>((resolve) => (settled = resolve));
    const cp = await c.checkpoint();
    if (cp) {
      checkpointsSeen.add(JSON.stringify(cp));
      const logged = new Set(c.all().map((e) => e.uid));
      const pending = new Set(cp.pending);
      for (let uid = 1; uid <= cp.lastUid; uid++) if (!pending.has(uid) && !logged.has(uid)) violations.push(`uid ${uid} claimed, not logged`);
    }
    return fetch(uids);
  };
  const c2 = await c.collector.check(box); // first run: all 60 unread
  expect(c2).toMatchObject({ tickets: 30, errors: 30, pending: 0 });
  expect(violations).toEqual([]);
  expect(checkpointsSeen.size).toBeGreaterThan(2); // the checkpoint moved during the backlog, not only at the end
  expect(await c.checkpoint()).toMatchObject({ lastUid: 60, pending: [] });
});

test("progress: a line per message for a few messages, a line per batch for a backlog", async () => {
  const few = new MemoryMailbox(500);
  for (let i = 0; i < 3; i++) few.add(plain(`[Ticket #${10010 + i}] Mailer`));
  const a = await setup({ linesUpTo: 3 });
  await a.collector.check(few);
  expect(a.lines.filter((l) => l.startsWith("uid "))).toEqual(["uid 1: ticket 10010", "uid 2: ticket 10011", "uid 3: ticket 10012"]);

  const many = new MemoryMailbox(500);
  for (let i = 0; i < 25; i++) many.add(plain(i < 20 ? `[Ticket #${10100 + i}] Mailer` : "other"));
  const b = await setup({ linesUpTo: 3, batchSize: 10 });
  await b.collector.check(many);
  expect(b.lines.filter((l) => /^uid \d+:/.test(l))).toEqual([]);
  expect(b.lines.filter((l) => l.startsWith("uids "))).toEqual([
    "uids 1–10: 10 tickets, 0 others (10 of 25)",
    "uids 11–20: 10 tickets, 0 others (20 of 25)",
    "uids 21–25: 0 tickets, 5 others (25 of 25)",
  ]);
});

test("parseMail with convertHtml false: flags exactly the mail whose text needs HTML converted", async () => {
  const alt = `Subject: a\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n`;
  const onlyHtml = html("h", "<p>only html</p>");
  const a = await parseMail(Buffer.from(alt), { convertHtml: false });
  expect([a.text, a.htmlNotConverted]).toEqual(["plain", undefined]);
  const h = await parseMail(Buffer.from(onlyHtml), { convertHtml: false });
  expect(h.htmlNotConverted).toBe(true);
  expect((await parseMail(Buffer.from(onlyHtml))).text).toBe("only html");
});

test("JsonlAppender.write + sync: lines appended whole, in order; sync resolves", async () => {
  const t = tempDir("mailer-thru-");
  cleanups.push(t.cleanup);
  const a = new JsonlAppender(join(t.path, "x.log"));
  expect(a.write([])).toEqual([]);
  a.write([{ n: 1 }, { n: 2 }]);
  a.write([{ n: 3 }]);
  await a.sync();
  a.close();
  expect(readFileSync(join(t.path, "x.log"), "utf8")).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
});

test("ImapMailbox.sizes: small messages get the SMALL_MESSAGE bound, large ones their real size, also mail that arrived after the first answer", async () => {
  const USER = "admin@mailer.test";
  const s = await startSandboxImap({ port: 0, users: { [USER]: "pw" } });
  cleanups.push(() => s.close());
  const big = plain("big", "x".repeat(100_000));
  await s.append(plain("small"));
  await s.append(big);
  const m = await ImapMailbox.connect({ endpoint: { host: "127.0.0.1", port: s.port, security: "auto" } as never, login: USER, password: "pw", ca: undefined });
  cleanups.push(() => m.close());
  await m.open();
  expect(await m.sizes([1, 2])).toEqual([{ uid: 1, size: SMALL_MESSAGE }, { uid: 2, size: Buffer.byteLength(big) }]);
  await s.append(big); // uid 3, after the answer was cached
  await s.append(plain("small again"));
  expect(await m.sizes([2, 3, 4])).toEqual([{ uid: 2, size: Buffer.byteLength(big) }, { uid: 3, size: Buffer.byteLength(big) }, { uid: 4, size: SMALL_MESSAGE }]);
});
