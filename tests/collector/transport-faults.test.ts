// No message lost whatever the IMAP server does (issue 12): a connection cut while a large
// message streams, a UID left out of the FETCH reply or answered without a source, a literal of
// ~1 GB announced. Against the sandbox's IMAP server behind a cutting proxy
// (tests/helpers/tcp-proxy.ts) or a rewriting one (tests/helpers/imap-filter.ts), through the real
// ImapMailbox and loop.
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ImapMailbox, MAX_LITERAL_BYTES } from "../../lib/collector/imap-mailbox";
import { ERROR_LOG, SUCCESS_LOG } from "../../lib/collector/log";
import { runLoop } from "../../lib/collector/loop";
import { ParsePool } from "../../lib/collector/parse-pool";
import { MAX_FETCH_ATTEMPTS } from "../../lib/collector/pending";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { MAX_TEXT_CHARS } from "../../lib/shared/mail-text";
import { fetchUid, startImapFilter, type Rewrite } from "../helpers/imap-filter";
import { tempDir, until } from "../helpers/kit";
import { testCollector } from "../helpers/state";
import { startProxy } from "../helpers/tcp-proxy";

const USER = "admin@mailer.test";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ticket = (n: number, body = `ticket ${n}`) => `From: ivan@example.com\r\nSubject: [Ticket #${n}] Mailer\r\n\r\n${body}\r\n`;

async function setup() {
  const sandbox = await startSandboxImap({ port: 0, users: { [USER]: "pw" } });
  const t = tempDir("mailer-faults-");
  const lines: string[] = [];
  const stateDir = join(t.path, "state");
  const c = await testCollector(join(t.path, "logs"), stateDir, { account: `${USER}@x/INBOX`, out: (l) => lines.push(l), all: true }, new ParsePool());
  cleanups.push(() => sandbox.close(), t.cleanup, c.close);
  const { collector, checkpoint } = c;
  const read = (f: string) => (existsSync(join(t.path, "logs", f)) ? readFileSync(join(t.path, "logs", f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
  const connect = (port: number) => () => ImapMailbox.connect({ endpoint: { host: "127.0.0.1", port, security: "auto" } as never, login: USER, password: "pw", ca: undefined });
  /** the collector's loop (reconnecting with a short backoff) until `done` holds */
  const loopUntil = async (port: number, done: () => boolean, ms = 30_000) => {
    const stop = new AbortController();
    const errs: string[] = [];
    const running = runLoop({
      connect: connect(port), collector, periodMs: 50, once: false, stop: stop.signal, out: (l) => lines.push(l), err: (l) => errs.push(l),
      where: { login: USER, host: "127.0.0.1", port, mailbox: "INBOX" }, backoff: { initialMs: 20, maxMs: 100 },
    });
    try {
      await until(done, ms, "the collector's entries", () => [...lines, ...errs].join("\n"));
    } finally {
      stop.abort();
    }
    expect(await running).toBe(0);
    return errs;
  };
  return { sandbox, collector, stateDir, checkpoint, lines, loopUntil, connect, success: () => read(SUCCESS_LOG), errors: () => read(ERROR_LOG) };
}

test("a connection cut while a 5 MB message streams: the UID stays pending, is fetched again after the reconnect, one ticket entry", async () => {
  const s = await setup();
  const big = ticket(10001, "x".repeat(5 * 1024 * 1024));
  await s.sandbox.append(ticket(10000));
  await s.sandbox.append(big);
  await s.sandbox.append(ticket(10002));
  const proxy = await startProxy(s.sandbox.port);
  cleanups.push(() => proxy.close());
  proxy.cutAfter(2_000_000); // the first connection, well inside the 5 MB stream
  const errs = await s.loopUntil(proxy.port, () => s.success().length >= 3);
  expect(proxy.cuts).toEqual([2_000_000]);
  expect(errs.some((l) => /lost/.test(l))).toBe(true);
  expect(s.success().map((e) => [e.uid, e.ticket, e.text.length, e.size])).toEqual([[1, "10000", 12, 73], [2, "10001", MAX_TEXT_CHARS, Buffer.byteLength(big)], [3, "10002", 12, 73]]);
  expect(s.errors()).toEqual([]);
  expect(await s.checkpoint()).toMatchObject({ lastUid: 3, pending: [] });
  expect((await s.checkpoint())?.extra?.retries).toBeUndefined();
}, 60_000);

/** Runs `checks` checks through a filter in front of the sandbox, on one connection. */
async function checksThrough(s: Awaited<ReturnType<typeof setup>>, rewrite: Rewrite, checks: number) {
  const filter = await startImapFilter(s.sandbox.port, rewrite);
  cleanups.push(() => filter.close());
  const mailbox = await s.connect(filter.port)();
  cleanups.push(() => mailbox.close());
  for (let i = 0; i < checks; i++) await s.collector.check(mailbox);
}

const wholeSource = (r: Buffer) => /BODY\[\] \{/.test(r.toString("latin1", 0, 200));

test("a UID SEARCH listed but the FETCH reply left out stays pending and is fetched at the next check", async () => {
  const s = await setup();
  for (let i = 0; i < 3; i++) await s.sandbox.append(ticket(10010 + i));
  let dropped = 0;
  await checksThrough(s, (r) => (fetchUid(r) === 2 && wholeSource(r) && dropped++ === 0 ? null : r), 1);
  expect(s.success().map((e) => e.uid)).toEqual([1, 3]);
  expect(await s.checkpoint()).toMatchObject({ lastUid: 3, pending: [2], extra: { retries: { "2": { attempts: 1, lastError: expect.stringMatching(/left it out/) } } } });
  expect(s.lines).toContain("uid 2: not delivered by the server (the FETCH reply left it out or carried no message source) — stays pending, fetched again at the next check");
  await checksThrough(s, (r) => r, 1);
  expect(s.success().map((e) => e.uid)).toEqual([1, 3, 2]);
  expect(await s.checkpoint()).toMatchObject({ lastUid: 3, pending: [] });
  expect((await s.checkpoint())?.extra?.retries).toBeUndefined();
}, 30_000);

test(`a UID the server never delivers (answered without a source) gets one error entry after ${MAX_FETCH_ATTEMPTS} checks, naming it and why`, async () => {
  const s = await setup();
  for (let i = 0; i < 3; i++) await s.sandbox.append(ticket(10020 + i));
  // a malformed item: the FETCH response for UID 2 carries no BODY[]
  const malformed: Rewrite = (r) => (fetchUid(r) === 2 && wholeSource(r) ? Buffer.from("* 2 FETCH (UID 2 FLAGS ())\r\n") : r);
  await checksThrough(s, malformed, MAX_FETCH_ATTEMPTS - 1);
  expect(s.errors()).toEqual([]);
  expect(await s.checkpoint()).toMatchObject({ pending: [2], extra: { retries: { "2": { attempts: MAX_FETCH_ATTEMPTS - 1 } } } });
  await checksThrough(s, malformed, 2);
  expect(s.success().map((e) => e.uid)).toEqual([1, 3]);
  expect(s.errors()).toEqual([
    expect.objectContaining({ uid: 2, subject: null, sha256: null, reason: `the server listed UID 2 but did not deliver it in ${MAX_FETCH_ATTEMPTS} attempts (last: the FETCH reply left it out or carried no message source); look at it in a mail client` }),
  ]);
  expect(await s.checkpoint()).toMatchObject({ lastUid: 3, pending: [] });
}, 30_000);

test("a literal of ~1 GB announced for one message: a 'too large' entry with its size, the others collected, no crash", async () => {
  const s = await setup();
  for (let i = 0; i < 3; i++) await s.sandbox.append(ticket(10030 + i));
  const HUGE = 1_073_741_000;
  const filter = await startImapFilter(s.sandbox.port, (r) => (fetchUid(r) === 2 && wholeSource(r) ? { stallAfter: Buffer.from(`* 2 FETCH (UID 2 BODY[] {${HUGE}}\r\n`) } : r));
  cleanups.push(() => filter.close());
  await s.loopUntil(filter.port, () => s.success().length + s.errors().length >= 3);
  expect(s.success().map((e) => e.uid)).toEqual([1, 3]);
  expect(s.errors()).toEqual([expect.objectContaining({ uid: 2, size: HUGE, reason: expect.stringMatching(new RegExp(`^too large: .*${HUGE} bytes, more than the ${MAX_LITERAL_BYTES}`)) })]);
}, 60_000);
