import { describe, expect, test } from "bun:test";
import { LineAssembler, type Frame } from "../../lib/wire/framing";

const enc = new TextEncoder();
const lines = (frames: Frame[]) => frames.map((f) => (f.kind === "line" ? f.text : `<${f.kind}>`));

/** Feeds `bytes` cut at the given sizes (cycled) and returns every frame. */
function feed(a: LineAssembler, bytes: Uint8Array, sizes: number[]): Frame[] {
  const out: Frame[] = [];
  let i = 0;
  for (let pos = 0; pos < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    out.push(...a.push(bytes.slice(pos, pos + n)));
    pos += n;
  }
  return out;
}

const requests = [
  JSON.stringify({ email: "ivan@пример.рф", message: "Привет, мир! 👋🏽\nвторая строка" }),
  JSON.stringify({ email: "a@example.com", message: "emoji 🧑‍💻 and ZWJ" }),
  JSON.stringify({ email: "b@example.com", message: "plain" }),
];
const stream = enc.encode(requests.join("\n") + "\n");

describe("LineAssembler", () => {
  test("1-byte pieces, multibyte characters split across chunks", () => {
    expect(lines(feed(new LineAssembler(1024), stream, [1]))).toEqual(requests);
  });

  test("three requests in one chunk", () => {
    expect(lines(new LineAssembler(1024).push(stream))).toEqual(requests);
  });

  test("every split position and a pseudo-random mix of sizes give the same lines", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const a = new LineAssembler(1024);
      expect(lines([...a.push(stream.slice(0, cut)), ...a.push(stream.slice(cut))])).toEqual(requests);
    }
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
    for (let round = 0; round < 50; round++) {
      const sizes = Array.from({ length: 20 }, () => (rand() % 9) + 1);
      expect(lines(feed(new LineAssembler(1024), stream, sizes))).toEqual(requests);
    }
  });

  test("CRLF line ends and blank lines", () => {
    expect(lines(new LineAssembler(100).push(enc.encode("a\r\n\r\nb\n")))).toEqual(["a", "", "b"]);
  });

  test("a line of exactly the limit passes; one byte more overflows", () => {
    expect(lines(new LineAssembler(10).push(enc.encode("x".repeat(10) + "\n")))).toEqual(["x".repeat(10)]);
    expect(lines(new LineAssembler(10).push(enc.encode("x".repeat(10) + "\r\n")))).toEqual(["x".repeat(10)]);
    expect(lines(new LineAssembler(10).push(enc.encode("x".repeat(11) + "\n")))).toEqual(["<overflow>"]);
    expect(lines(new LineAssembler(10).push(enc.encode("x".repeat(11) + "\r\n")))).toEqual(["<overflow>"]);
  });

  test("overflow is detected without buffering more than the limit, then input is ignored", () => {
    const a = new LineAssembler(1000);
    const chunk = enc.encode("y".repeat(300));
    let frames: Frame[] = [];
    let maxBuffered = 0;
    for (let i = 0; i < 100 && frames.length === 0; i++) {
      frames = a.push(chunk);
      maxBuffered = Math.max(maxBuffered, a.buffered);
    }
    expect(lines(frames)).toEqual(["<overflow>"]);
    expect(maxBuffered).toBeLessThanOrEqual(1001);
    expect(a.buffered).toBe(0);
    expect(a.push(enc.encode("ok\n"))).toEqual([]);
    expect(a.finish()).toEqual([]);
  });

  test("lines before an overflowing one in the same chunk are still delivered", () => {
    expect(lines(new LineAssembler(5).push(enc.encode("ab\ncd\n" + "z".repeat(50))))).toEqual(["ab", "cd", "<overflow>"]);
  });

  test("invalid UTF-8 is reported for its line only", () => {
    const bytes = new Uint8Array([...enc.encode("ok1\n"), 0xff, 0xfe, 0x0a, ...enc.encode("ok2\n")]);
    expect(lines(feed(new LineAssembler(100), bytes, [1]))).toEqual(["ok1", "<invalid-utf8>", "ok2"]);
  });

  test("finish() returns a last line that has no newline", () => {
    const a = new LineAssembler(100);
    expect(lines(a.push(enc.encode('{"a":1}\n{"b":')))).toEqual(['{"a":1}']);
    expect(lines(a.push(enc.encode("2}")))).toEqual([]);
    expect(lines(a.finish())).toEqual(['{"b":2}']);
    expect(a.finish()).toEqual([]);
  });

  test("chunks are copied: reusing the caller's buffer does not corrupt a pending line", () => {
    const a = new LineAssembler(100);
    const buf = enc.encode("hello");
    a.push(buf);
    buf.fill(0x41);
    expect(lines(a.push(enc.encode(" world\n")))).toEqual(["hello world"]);
  });
  test("memory is proportional to the bytes held, however they were split (one slice per 1-byte chunk cost ~110 bytes each)", () => {
    const a = new LineAssembler(65536);
    const one = new Uint8Array([0x78]);
    for (let i = 1; i <= 60_000; i++) {
      a.push(one);
      if (i % 997 === 0) expect(a.capacity).toBeLessThanOrEqual(Math.max(256, 2 * a.buffered));
    }
    expect(a.buffered).toBe(60_000);
    expect(lines(a.push(enc.encode("\n")))).toEqual(["x".repeat(60_000)]);
    expect(a.capacity).toBe(0); // a big buffer is given back once its line is done
  });
});
