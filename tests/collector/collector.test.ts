import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import type { CollectorOptions } from "../../lib/collector/collector";
import { ERROR_LOG, SUCCESS_LOG } from "../../lib/collector/log";
import { checkpointKey } from "../../lib/store/keys";
import { MAX_FETCH_ATTEMPTS } from "../../lib/collector/pending";
import { MemoryMailbox } from "../fakes/memory-mailbox";
import { ParsePool } from "../../lib/collector/parse-pool";
import { tempDir } from "../helpers/env";
import { restoreStore, snapshotStore, sql, TEST_ACCOUNT as ACCOUNT, testCollector } from "../helpers/state";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function msg(subject: string, body = "text", id = `${subject.length}-${Math.random()}@x`) {
  return `From: Ivan <ivan@example.com>\r\nSubject: ${subject}\r\nMessage-ID: <${id}>\r\n\r\n${body}\r\n`;
}

/** A collector over a temp LOG_DIR/STATE_DIR; `restart()` stops it and makes a new one on the
 *  same dirs, as a new process would. */
async function setup(extra: Partial<CollectorOptions> & { account?: string } = {}, dirs?: { logDir: string; stateDir: string }, pool = new ParsePool()) {
  let logDir: string, stateDir: string;
  if (dirs) ({ logDir, stateDir } = dirs);
  else {
    const t = tempDir("mailer-core-");
    cleanups.push(t.cleanup);
    logDir = join(t.path, "logs");
    stateDir = join(t.path, "state");
  }
  const lines: string[] = [];
  const t = await testCollector(logDir, stateDir, { out: (l) => lines.push(l), ...extra }, pool);
  cleanups.push(t.close);
  const { collector, close, store, checkpoint } = t;
  const entries = (file: string) => (existsSync(join(logDir, file)) ? readFileSync(join(logDir, file), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
  return {
    collector, lines, logDir, stateDir, close, store, checkpoint,
    success: () => entries(SUCCESS_LOG),
    errors: () => entries(ERROR_LOG),
    all: () => [...entries(SUCCESS_LOG), ...entries(ERROR_LOG)].sort((a, b) => a.uidValidity - b.uidValidity || a.uid - b.uid),
    restart: async (more: Partial<CollectorOptions> = {}) => {
      await close();
      return await setup({ ...extra, ...more }, { logDir, stateDir });
    },
  };
}

test("first run takes only unread mail; the second run adds nothing; then every new message counts, read or not", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("[Ticket #10001] Mailer"), ["\\Seen"]); // read before the collector ever ran: not taken
  box.add(msg("[Ticket #10002] Mailer", "unread ticket"));
  box.add(msg("Hello there"));
  const c = await setup();
  const r1 = await c.collector.check(box);
  expect(r1).toMatchObject({ tickets: 1, errors: 1 });
  expect(c.success().map((e) => [e.uid, e.ticket, e.text])).toEqual([[2, "10002", "unread ticket"]]);
  expect(c.errors().map((e) => [e.uid, e.subject])).toEqual([[3, "Hello there"]]);
  expect(c.lines[0]).toMatch(/^First run: 2 unread messages/);

  expect(await c.collector.check(box)).toMatchObject({ tickets: 0, errors: 0 });
  expect(c.all()).toHaveLength(2);

  // read in another client before the collector looked: still collected
  const uid = box.add(msg("Re: [Ticket #10002] Mailer"), ["\\Seen"]);
  await c.collector.check(box);
  expect(c.success().at(-1)).toMatchObject({ uid, ticket: "10002", reply: true });
  expect(c.all()).toHaveLength(3);
});

test("checks fetch only what is new (no re-fetch of logged mail)", async () => {
  const box = new MemoryMailbox(500);
  for (let i = 0; i < 5; i++) box.add(msg(`m${i}`));
  const c = await setup();
  await c.collector.check(box);
  box.calls.length = 0;
  box.add(msg("new one"));
  await c.collector.check(box);
  expect(box.calls.filter((x) => x.startsWith("fetchSources"))).toEqual(["fetchSources 6"]);
});

test("--all backfills every message not logged yet, once", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("[Ticket #10001] Mailer"), ["\\Seen"]);
  box.add(msg("b"), ["\\Seen"]);
  box.add(msg("c"));
  const c = await setup();
  await c.collector.check(box); // first run: only uid 3
  expect(c.all().map((e) => e.uid)).toEqual([3]);
  const again = await c.restart({ all: true });
  await again.collector.check(box);
  expect(again.all().map((e) => e.uid)).toEqual([1, 2, 3]);
  await again.collector.check(box); // --all is for the first check only
  const third = await again.restart({ all: true });
  await third.collector.check(box);
  expect(third.all().map((e) => e.uid)).toEqual([1, 2, 3]);
});

test("UIDVALIDITY change: re-scan, skip what is logged (by source, not Message-ID), say so once", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("[Ticket #10001] Mailer", "one", "same-id@x"));
  box.add(msg("two", "two"));
  const c = await setup();
  await c.collector.check(box);
  expect(c.all()).toHaveLength(2);

  // the server renumbers: same two messages, plus two new ones — one reusing a Message-ID
  box.renumber(777);
  box.add(msg("[Ticket #10001] Mailer", "a different message with the same Message-ID", "same-id@x"));
  box.add(msg("three", "three"));
  const r = await c.collector.check(box);
  expect(r).toMatchObject({ skipped: 2, tickets: 1, errors: 1 });
  const notices = c.lines.filter((l) => l.startsWith("UIDVALIDITY of INBOX changed (500 → 777)"));
  expect(notices).toHaveLength(1);
  const after = c.all().filter((e) => e.uidValidity === 777);
  expect(after.map((e) => [e.uid, e.text])).toEqual([[3, "a different message with the same Message-ID"], [4, "three"]]);

  await c.collector.check(box); // nothing more, no second notice
  expect(c.all()).toHaveLength(4);
  expect(c.lines.filter((l) => l.startsWith("UIDVALIDITY"))).toHaveLength(1);
});

test("--all into empty logs looks up no digests (nothing in them can be a duplicate); once the logs hold entries, a renumbered mailbox is still checked by digest", async () => {
  const box = new MemoryMailbox(500);
  for (let i = 0; i < 5; i++) box.add(msg(`m${i}`, `body ${i}`));
  const c = await setup({ all: true });
  const asked: number[] = [];
  const digestCounts = c.store.collector.digestCounts.bind(c.store.collector);
  c.store.collector.digestCounts = (logIds, uv, digests) => (asked.push(digests.length), digestCounts(logIds, uv, digests));
  await c.collector.check(box);
  expect(c.all()).toHaveLength(5);
  expect(asked).toEqual([]);
  // the server renumbers: the same five sources are skipped by digest
  box.renumber(501);
  await c.collector.check(box);
  expect(asked.reduce((a, b) => a + b, 0)).toBe(5);
  expect(c.all()).toHaveLength(5);
});

test("the sandbox's fresh UIDVALIDITY at a new start reads as the normal case, not as a renumbered server", async () => {
  const box = new MemoryMailbox(500);
  box.server = "Mailer sandbox";
  box.add(msg("[Ticket #10001] Mailer", "one"));
  const c = await setup();
  await c.collector.check(box);
  box.renumber(501); // the next sandbox start: a new in-memory inbox
  box.add(msg("[Ticket #10002] Mailer", "two"));
  await c.collector.check(box);
  const notice = c.lines.filter((l) => !l.startsWith("uid ") && l.includes("UIDVALIDITY"));
  expect(notice).toEqual(["The sandbox's in-memory INBOX is new since the last run (UIDVALIDITY 501, as at every sandbox start): reading its 2 messages."]);
  expect(c.lines.join("\n")).not.toMatch(/renumbered|changed/);
});

test("two identical messages in the renumbered mailbox, one logged before: only the other is logged", async () => {
  const box = new MemoryMailbox(1);
  const same = msg("dup", "identical bytes", "dup@x");
  box.add(same);
  const c = await setup();
  await c.collector.check(box);
  box.renumber(2);
  box.add(same);
  await c.collector.check(box);
  expect(c.all().map((e) => [e.uidValidity, e.uid])).toEqual([[1, 1], [2, 2]]);
});

test("crash between log append and commit: restart logs nothing twice and loses nothing", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("first"));
  const c = await setup({ batchSize: 2 });
  await c.collector.check(box); // checkpoint exists now
  const saved = snapshotStore(c.stateDir);
  for (let i = 0; i < 5; i++) box.add(msg(`m${i}`));
  await c.collector.check(box);
  expect(c.all()).toHaveLength(6);
  // as if killed after the appends but before any commit: the store as it was
  await c.close();
  restoreStore(c.stateDir, saved);
  box.add(msg("after the crash"));
  const d = await c.restart();
  await d.collector.check(box);
  expect(d.all().map((e) => e.uid)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(await d.checkpoint()).toMatchObject({ lastUid: 7, pending: [] });
});

test("crash after only part of a batch reached the logs (error log written, success not): the rest is logged on restart", async () => {
  const box = new MemoryMailbox(500);
  const c = await setup();
  await c.collector.check(box); // empty mailbox: checkpoint at lastUid 0
  box.add(msg("[Ticket #10001] Mailer"));
  box.add(msg("plain"));
  const before = snapshotStore(c.stateDir);
  await c.collector.check(box);
  const successLine = readFileSync(join(c.logDir, SUCCESS_LOG), "utf8");
  await c.close();
  // roll back: the success entry never made it, nor the commit
  writeFileSync(join(c.logDir, SUCCESS_LOG), "");
  restoreStore(c.stateDir, before);
  const d = await c.restart();
  await d.collector.check(box);
  expect(d.all().map((e) => e.uid)).toEqual([1, 2]);
  expect(readFileSync(join(c.logDir, SUCCESS_LOG), "utf8").split("\n").filter(Boolean)).toHaveLength(1);
  expect(JSON.parse(successLine).uid).toBe(1);
});

test("a log replaced by another file is indexed afresh (the index follows the file, not its name)", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("a"));
  const c = await setup();
  await c.collector.check(box);
  await c.close();
  const old = readFileSync(join(c.logDir, ERROR_LOG), "utf8");
  // moved aside by a person: a new, empty error log; the old one's message is not in it any more
  writeFileSync(join(c.logDir, ERROR_LOG + ".1"), old);
  writeFileSync(join(c.logDir, ERROR_LOG + ".new"), "");
  require("node:fs").renameSync(join(c.logDir, ERROR_LOG + ".new"), join(c.logDir, ERROR_LOG));
  const d = await c.restart({ all: true });
  await d.collector.check(box);
  expect(d.errors().map((e) => e.uid)).toEqual([1]);
});

test("a torn last line (crash mid-write) is ended, ignored, and the message logged again", async () => {
  const box = new MemoryMailbox(500);
  const c = await setup();
  await c.collector.check(box);
  box.add(msg("x"));
  appendFileSync(join(c.logDir, ERROR_LOG), '{"time":"2026-01-01T00:00:00Z","text":"x","uid":1,"uidVal');
  const d = await c.restart();
  await d.collector.check(box);
  const lines = readFileSync(join(c.logDir, ERROR_LOG), "utf8").split("\n").filter(Boolean);
  expect(lines).toHaveLength(2);
  expect(JSON.parse(lines[1]!)).toMatchObject({ uid: 1, uidValidity: 500 });
});

test("no checkpoint but the log knows the mailbox: carries on after the highest logged UID", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("a"));
  box.add(msg("b"));
  const c = await setup();
  await c.collector.check(box);
  sql(c.stateDir, "DELETE FROM checkpoints");
  box.add(msg("c"), ["\\Seen"]);
  const d = await c.restart();
  await d.collector.check(box);
  expect(d.all().map((e) => e.uid)).toEqual([1, 2, 3]);
});

test("a checkpoint for another account is not used", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("a"), ["\\Seen"]);
  box.add(msg("b"));
  const c = await setup();
  await c.close();
  const other = await setup({ account: "someone-else@h:1/INBOX", all: true }, { logDir: c.logDir, stateDir: c.stateDir });
  await other.collector.check(box);
  await other.close();
  const d = await c.restart();
  box.add(msg("c"));
  await d.collector.check(box); // own account: a first run of its own; the other's entries are in the log already
  expect(d.all().map((e) => e.uid)).toEqual([1, 2, 3]);
  expect((await d.checkpoint())?.key).toBe(checkpointKey(ACCOUNT, c.logDir));
});

test("batches: a backlog is fetched in UID batches, logged in UID order, large messages streamed", async () => {
  const box = new MemoryMailbox(500);
  for (let i = 0; i < 25; i++) box.add(msg(`[Ticket #${10000 + i}] Mailer`, i === 7 ? "x".repeat(300_000) : `n${i}`));
  const c = await setup({ batchSize: 10, streamAbove: 100_000 });
  await c.collector.check(box);
  expect(c.success().map((e) => e.uid)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  expect(box.calls.filter((x) => x.startsWith("sizes"))).toEqual(["sizes 10", "sizes 10", "sizes 5"]);
  expect(box.calls).toContain("streamSource 8");
  expect(box.calls.some((x) => x.startsWith("fetchSources") && x.split(/[ ,]/).includes("8"))).toBe(false);
  const big = c.success()[7];
  expect(big.text).toHaveLength(300_000);
  expect(big.sha256).toBe(new Bun.CryptoHasher("sha256").update(box.messages[7]!.source).digest("hex"));
});

test("a stop request finishes the batch in hand and leaves the rest pending", async () => {
  const box = new MemoryMailbox(500);
  for (let i = 0; i < 30; i++) box.add(msg(`m${i}`));
  let batches = 0;
  const c = await setup({ batchSize: 10, shouldStop: () => ++batches > 1 });
  const r = await c.collector.check(box);
  expect(r.stopped).toBe(true);
  expect(c.all()).toHaveLength(10);
  expect((await c.checkpoint())?.pending).toEqual(Array.from({ length: 20 }, (_, i) => i + 11));
  const d = await c.restart({ shouldStop: () => false });
  await d.collector.check(box);
  expect(d.all().map((e) => e.uid)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
});

test("a message the parser cannot finish in time yields exactly one error entry, and the next message still goes through", async () => {
  const box = new MemoryMailbox(500);
  // HTML-only: its text needs html-to-text, which runs in the worker (small plain mail is parsed
  // on the main thread, where no deadline could stop a parser; see lib/collector/parser-policy.ts)
  box.add(`Subject: slow\r\nContent-Type: text/html\r\n\r\n<p>${"y".repeat(50_000)}</p>\r\n`);
  box.add(msg("[Ticket #10001] Mailer", "fine"));
  // a deadline too short for the first (big) message only
  const c = await setup({}, undefined, new ParsePool({ deadlineMs: (size) => (size > 10_000 ? 1 : 10_000) }));
  const collector = c.collector;
  const r = await collector.check(box);
  expect(r).toMatchObject({ tickets: 1, errors: 1 });
  const err = JSON.parse(readFileSync(join(c.logDir, ERROR_LOG), "utf8"));
  expect(err).toMatchObject({ uid: 1, reason: expect.stringMatching(/parsing took longer than 1 ms/) });
});

test("a message expunged between listing and fetching gets one entry that says so (nothing vanishes), not pending", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("a"));
  box.add(msg("b"));
  const c = await setup();
  const realSizes = box.sizes.bind(box);
  box.sizes = async (uids) => {
    box.messages = box.messages.filter((m) => m.uid !== 1);
    return realSizes(uids);
  };
  await c.collector.check(box);
  expect(c.all().map((e) => [e.uid, e.reason ?? null])).toEqual([[1, "removed from the mailbox (expunged or moved) before the collector could read it"], [2, expect.stringMatching(/^subject "b"/)]]);
  expect((await c.checkpoint())?.pending).toEqual([]);
});

test("a message the server lists but does not deliver: its attempts are kept in the store's checkpoint (extra.retries) and go on counting after a restart", async () => {
  const box = new MemoryMailbox(500);
  box.add(msg("a"));
  box.add(msg("b"));
  const realFetch = box.fetchSources.bind(box);
  box.fetchSources = async (uids) => (await realFetch(uids)).filter((m) => m.uid !== 1); // UID 1 left out
  let c = await setup({ all: true });
  await c.collector.check(box);
  expect(c.all().map((e) => e.uid)).toEqual([2]);
  expect(await c.checkpoint()).toMatchObject({ pending: [1], extra: { retries: { "1": { attempts: 1, lastError: expect.stringMatching(/left it out/) } } } });
  for (let attempt = 2; attempt <= MAX_FETCH_ATTEMPTS; attempt++) {
    c = await c.restart(); // a new process each time: the count comes from the store
    await c.collector.check(box);
  }
  expect(c.all().map((e) => [e.uid, e.reason ?? null])).toEqual([[1, expect.stringContaining(`did not deliver it in ${MAX_FETCH_ATTEMPTS} attempts`)], [2, expect.stringMatching(/^subject "b"/)]]);
  expect(await c.checkpoint()).toMatchObject({ pending: [] });
  expect((await c.checkpoint())?.extra?.retries).toBeUndefined();
});

test("a parser that cannot start stops the check (MailerError \"parser\") and logs nothing, instead of filling the error log", async () => {
  const { ParsePool: Pool } = await import("../../lib/collector/parse-pool");
  const { MailerError } = await import("../../lib/shared/errors");
  const box = new MemoryMailbox(500);
  box.add(`Subject: a\r\nContent-Type: text/html\r\n\r\n<p>needs the worker</p>\r\n`); // HTML: parsed in the worker
  // the worker script cannot be loaded: what a broken install looks like
  const c = await setup({}, undefined, new Pool({ workerUrl: new URL("./no-such-parse-worker.ts", import.meta.url).href }));
  const collector = c.collector;
  const err = await collector.check(box).then(() => null, (e) => e);
  expect(err).toBeInstanceOf(MailerError);
  expect(err.kind).toBe("parser");
  expect(err.message).toMatch(/cannot start/);
  expect(existsSync(join(c.logDir, ERROR_LOG)) ? readFileSync(join(c.logDir, ERROR_LOG), "utf8") : "").toBe("");
});

test("with the server's ledger in the store, success entries say whether the number was issued here and the mail accepted", async () => {
  const box = new MemoryMailbox(500);
  const c = await setup();
  const holder = { pid: process.pid, host: "h", since: "s" };
  const issue = () => c.store.tickets.issue({ requester: "p@example.com", adminCopy: (n) => ({ from: "a@x", to: "a@x", subject: n, text: n }), holder, holdMs: 60_000 });
  // no ticket issued from this store yet: no ledger, no field
  box.add(msg("[Ticket #10001] Mailer"));
  await c.collector.check(box);
  expect(c.success()[0]).not.toHaveProperty("issued");
  const accepted = await issue();
  const refused = await issue();
  await c.store.tickets.release(accepted.copy.id);
  await c.store.tickets.cancel(refused.copy.id);
  box.add(msg(`Re: [Ticket #${accepted.ticket}] Mailer`));
  box.add(msg(`[Ticket #${refused.ticket}] Mailer`));
  box.add(msg("[Ticket #99999] Mailer", "a forged or mistyped number"));
  await c.collector.check(box);
  const later = c.success().slice(1);
  expect(later.map((e) => [e.ticket, e.issued])).toEqual([[accepted.ticket, true], [refused.ticket, false], ["99999", false]]);
  // the field sits with the ticket fields
  expect(Object.keys(later[0]).slice(0, 4)).toEqual(["time", "ticket", "reply", "issued"]);
});
