// Pop3Mailbox and the collector over POP3, against the sandbox's POP3 server (lib/sandbox/pop3.ts)
// on loopback: UIDL → UID through the durable map, renumbering, mail deleted by someone else,
// no UIDL, wrong password, pipelined or not, a connection cut in the middle of a large RETR.
import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_LOG, SUCCESS_LOG } from "../../lib/collector/log";
import { errorKind } from "../../lib/collector/loop";
import { ParsePool } from "../../lib/collector/parse-pool";
import { Pop3Mailbox } from "../../lib/collector/pop3/mailbox";
import { FileUidMap, uidMapFile } from "../../lib/collector/pop3/uid-map";
import { isMailerError } from "../../lib/shared/errors";
import { startSandboxPop3, type Pop3StoreMessage, type SandboxPop3Options } from "../../lib/sandbox/pop3";
import { tempDir } from "../helpers/env";
import { testCollector } from "../helpers/state";
import { startProxy } from "../helpers/tcp-proxy";

const LOGIN = "admin@mailer.test";
const PASSWORD = 'pa"ss wörd';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An inbox another client may change between sessions: ids never reused, like real UIDLs. */
function inbox() {
  let seq = 0;
  const messages: Pop3StoreMessage[] = [];
  return {
    messages,
    add(source: string | Buffer) {
      const bytes = Buffer.from(source);
      messages.push({ id: `id-${++seq}`, size: bytes.length, read: () => bytes });
    },
    remove(id: string) {
      messages.splice(messages.findIndex((m) => m.id === id), 1);
    },
  };
}

const mail = (subject: string, body: string) => `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random()}@x>\r\n\r\n${body}\r\n`;

async function server(box: ReturnType<typeof inbox>, extra: Partial<SandboxPop3Options> = {}) {
  const s = await startSandboxPop3({ port: 0, users: { [LOGIN]: PASSWORD }, list: () => [...box.messages], ...extra });
  cleanups.push(() => s.close());
  return s;
}

function stateDir(): string {
  const t = tempDir("mailer-pop3-");
  cleanups.push(t.cleanup);
  return t.path;
}

async function connect(port: number, dir: string, password = PASSWORD) {
  const uidMap = FileUidMap.open(dir, `pop3:${LOGIN}@127.0.0.1:${port}`);
  const box = await Pop3Mailbox.connect({ endpoint: { host: "127.0.0.1", port, security: "auto" }, login: LOGIN, password, ca: undefined, uidMap });
  cleanups.push(async () => (await box.close(), uidMap.close()));
  return box;
}

describe("Pop3Mailbox on the sandbox POP3 server", () => {
  for (const pipelining of [true, false]) {
    test(`UIDL decides the UID across sessions; sources byte for byte, a lone dot line kept${pipelining ? " (pipelined)" : ""}`, async () => {
      const box = inbox();
      const dotty = mail("dots", "a\r\n.\r\n..\r\n.b\r\nend");
      box.add(mail("one", "1"));
      box.add(dotty);
      box.add(mail("three", "3"));
      const s = await server(box, { pipelining });
      const dir = stateDir();
      const m = await connect(s.port, dir);
      const info = await m.open();
      expect(info).toMatchObject({ exists: 3, idle: false, tls: false });
      expect(await m.search({ all: true })).toEqual([1, 2, 3]);
      expect(await m.search({ unseen: true })).toEqual([]);
      expect(await m.search({ above: 1 })).toEqual([2, 3]);
      expect(await m.search({ uids: [2, 7] })).toEqual([2]); // only the listed ones: 7 is not there
      expect((await m.sizes([3, 1])).map((x) => x.uid)).toEqual([1, 3]);
      const sources = await m.fetchSources([1, 2, 3]);
      expect(sources.map((x) => x.source.toString())).toEqual([mail, dotty, mail].map((_, i) => box.messages[i]!.read().toString()));
      expect(sources[1]!.source.toString()).toBe(dotty);

      // another client deletes message 1 and new mail arrives: the next session renumbers
      box.remove("id-1");
      box.add(mail("four", "4"));
      const again = await m.open();
      expect(again.uidValidity).toBe(info.uidValidity);
      expect(await m.search({ all: true })).toEqual([2, 3, 4]);
      expect(await m.sizes([1, 2])).toEqual([{ uid: 2, size: Buffer.byteLength(dotty) }]);
      expect(await m.fetchSources([1])).toEqual([]);
      expect(await m.streamSource(1)).toBeNull();
      const streamed: Buffer[] = [];
      for await (const chunk of (await m.streamSource(2))!) streamed.push(Buffer.from(chunk));
      expect(Buffer.concat(streamed).toString()).toBe(dotty);
      expect(s.sessions).toBe(2); // one session per check: connect's login served the first open

      // a new process: the same map, the same numbers; new mail after them
      box.add(mail("five", "5"));
      const m2 = await connect(s.port, dir);
      expect((await m2.open()).uidValidity).toBe(info.uidValidity);
      expect(await m2.search({ all: true })).toEqual([2, 3, 4, 5]);
    });
  }

  test("a server without UIDL is refused with a clear error (exit 2)", async () => {
    const box = inbox();
    box.add(mail("x", "y"));
    const s = await server(box, { uidl: false });
    const m = await connect(s.port, stateDir());
    const err = await m.open().catch((e) => e);
    expect(isMailerError(err, "config")).toBe(true);
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain("does not support UIDL");
  });

  test("wrong password: authenticationFailed, which the loop treats as fatal (exit 2); the password is in no message", async () => {
    const s = await server(inbox());
    const err = await connect(s.port, stateDir(), "wrong-secret").catch((e) => e);
    expect(err.authenticationFailed).toBe(true);
    expect(errorKind(err)).toBe("auth");
    expect(String(err.message)).not.toContain("wrong-secret");
  });

  test("large message streamed in chunks; the socket pauses while the reader lags", async () => {
    const box = inbox();
    const big = mail("big", ("x".repeat(998) + "\r\n." + "\r\n").repeat(6000)); // ~6 MB, a dot line every 1000 bytes
    box.add(big);
    const s = await server(box);
    const m = await connect(s.port, stateDir());
    await m.open();
    const hash = new Bun.CryptoHasher("sha256");
    let chunks = 0;
    for await (const chunk of (await m.streamSource(1))!) {
      hash.update(chunk);
      chunks++;
      if (chunks % 20 === 0) await Bun.sleep(1); // a slow reader
    }
    expect(hash.digest("hex")).toBe(new Bun.CryptoHasher("sha256").update(big).digest("hex"));
  });
});

describe("FileUidMap", () => {
  test("numbers survive a restart, are never reused, and a line cut by a crash is dropped", async () => {
    const dir = stateDir();
    const a = FileUidMap.open(dir, "acct");
    expect(await a.assign(["x", "y"])).toEqual([1, 2]);
    expect(await a.assign(["y", "z", "x"])).toEqual([2, 3, 1]);
    a.close();
    appendFileSync(join(dir, uidMapFile("acct")), '{"uidl":"w","ui'); // a write cut short
    const b = FileUidMap.open(dir, "acct");
    expect(b.uidValidity).toBe(a.uidValidity);
    expect(await b.assign(["w", "x"])).toEqual([4, 1]);
    b.close();
    expect(readFileSync(join(dir, uidMapFile("acct")), "utf8").split("\n").filter(Boolean)).toHaveLength(5);
    // another account: another map, another uidValidity
    const c = FileUidMap.open(dir, "other");
    expect(await c.assign(["x"])).toEqual([1]);
    expect(c.uidValidity).not.toBe(a.uidValidity);
    c.close();
  });

  test("a damaged map is refused by name (exit 2), not silently renumbered", async () => {
    const dir = stateDir();
    const a = FileUidMap.open(dir, "acct");
    await a.assign(["x"]);
    a.close();
    appendFileSync(join(dir, uidMapFile("acct")), "garbage\n");
    let err: unknown;
    try {
      FileUidMap.open(dir, "acct");
    } catch (e) {
      err = e;
    }
    expect(isMailerError(err, "state")).toBe(true);
    expect(String((err as Error).message)).toContain("line 3 is damaged");
  });
});

describe("Collector over POP3", () => {
  async function collectorOn(dir: string, all = false) {
    const lines: string[] = [];
    const t = await testCollector(join(dir, "logs"), join(dir, "state"), { account: "pop3-test", all, out: (l) => lines.push(l), streamAbove: 64 * 1024 }, new ParsePool());
    cleanups.push(t.close);
    const { collector } = t;
    const entries = () =>
      [SUCCESS_LOG, ERROR_LOG].flatMap((f) => (existsSync(join(dir, "logs", f)) ? readFileSync(join(dir, "logs", f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []));
    return { collector, entries, lines };
  }

  test("first run takes nothing old, --all everything; deleted between checks: no error, nothing twice", async () => {
    const box = inbox();
    box.add(mail("[Ticket #10001] Mailer", "old ticket"));
    const s = await server(box);
    const dir = stateDir();
    const c = await collectorOn(dir);
    const m = await connect(s.port, join(dir, "state"));
    expect(await c.collector.check(m)).toMatchObject({ tickets: 0, errors: 0 });
    box.add(mail("[Ticket #10002] Mailer", "new ticket"));
    box.add(mail("hello", "not a ticket"));
    expect(await c.collector.check(m)).toMatchObject({ tickets: 1, errors: 1 });
    box.remove("id-1");
    box.remove("id-2");
    box.add(mail("Re: [Ticket #10003] Mailer", "reply"));
    expect(await c.collector.check(m)).toMatchObject({ tickets: 1, errors: 0 });
    expect(await c.collector.check(m)).toMatchObject({ tickets: 0, errors: 0 });
    expect(c.entries().sort((a, b) => a.uid - b.uid).map((e) => [e.uid, e.ticket ?? null, e.text])).toEqual([
      [2, "10002", "new ticket"],
      [3, null, "not a ticket"],
      [4, "10003", "reply"],
    ]);

    const d2 = stateDir();
    const everything = await collectorOn(d2, true);
    const m2 = await connect(s.port, join(d2, "state"));
    expect(await everything.collector.check(m2)).toMatchObject({ tickets: 1, errors: 1 });
  });

  test("a connection cut in the middle of a large RETR: the check fails, the next one fetches it again, once", async () => {
    const box = inbox();
    const s = await server(box);
    const proxy = await startProxy(s.port);
    cleanups.push(() => proxy.close());
    const dir = stateDir();
    const c = await collectorOn(dir);
    const first = await connect(proxy.port, join(dir, "state"));
    await c.collector.check(first); // first run: empty inbox
    await first.close();
    box.add(mail("[Ticket #10004] Mailer", "small before"));
    box.add(mail("[Ticket #10005] Mailer", "big " + "y".repeat(300_000)));
    box.add(mail("after", "small after"));
    proxy.cutAfter(150_000); // the next connection loses its server side 150 KB in: inside the big RETR
    const cut = await connect(proxy.port, join(dir, "state"));
    const err = await c.collector.check(cut).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(errorKind(err)).toBe("transient");
    expect(proxy.cuts).toEqual([150_000]);
    await cut.close();
    const again = await connect(proxy.port, join(dir, "state"));
    await c.collector.check(again);
    const tickets = c.entries().map((e) => e.ticket ?? e.subject);
    expect(tickets.sort()).toEqual(["10004", "10005", "after"]);
  });
});
