import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { ParsePool } from "../../lib/collector/parse-pool";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const pools: ParsePool[] = [];
afterEach(() => pools.splice(0).forEach((p) => p.close()));
const pool = (opts?: ConstructorParameters<typeof ParsePool>[0]) => {
  const p = new ParsePool(opts);
  pools.push(p);
  return p;
};

test("parses in order, whole or streamed", async () => {
  const p = pool();
  const results = await Promise.all([
    p.parse(Buffer.from("Subject: one\r\n\r\nfirst\r\n")),
    p.parseStream((async function* () {
      yield Buffer.from("Subject: two\r\n\r\nsec");
      yield Buffer.from("ond\r\n");
    })(), 30),
  ]);
  expect(results.map((r) => (r.ok ? [r.mail.subject, r.mail.text] : r.error))).toEqual([["one", "first"], ["two", "second"]]);
});

test("a slow stream is not a stuck parser: the deadline counts from the last chunk taken", async () => {
  const p = pool({ deadlineMs: () => 1500 });
  await p.parse(Buffer.from("Subject: warm-up\r\n\r\nx\r\n")); // worker started
  const r = await p.parseStream((async function* () {
    yield Buffer.from("Subject: slow\r\n\r\n");
    for (let i = 0; i < 4; i++) {
      await Bun.sleep(500); // 2 s in all, longer than the deadline
      yield Buffer.from(`part ${i}\r\n`);
    }
  })(), 100);
  expect(r.ok && r.mail.text).toBe("part 0\npart 1\npart 2\npart 3");
}, 10_000);

test("a parser that does not finish in time is stopped, and the pool goes on with a new worker", async () => {
  const p = pool({ deadlineMs: (size) => (size > 1000 ? 1 : 10_000) });
  const slow = await p.parse(Buffer.from("Subject: big\r\n\r\n" + "x".repeat(100_000)));
  expect(slow).toEqual({ ok: false, error: "parsing took longer than 1 ms and was stopped" });
  const next = await p.parse(Buffer.from("Subject: small\r\n\r\nfine\r\n"));
  expect(next.ok && next.mail.text).toBe("fine");
});
