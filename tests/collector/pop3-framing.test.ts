import { describe, expect, test } from "bun:test";
import { dotStuff, Pop3Decoder, Pop3ProtocolError, type Expectation, type Pop3Event } from "../../lib/collector/pop3/framing";

const enc = new TextEncoder();

/** What a client sees: status lines and whole bodies (joined data chunks), in order. */
function decode(expectations: Expectation[], bytes: Uint8Array, sizes: number[]): string[] {
  const out: string[] = [];
  let body: Buffer[] | null = null;
  const d = new Pop3Decoder((e: Pop3Event) => {
    if (e.kind === "status") {
      out.push(`${e.ok ? "+" : "-"}${e.text}`);
      body = [];
    } else if (e.kind === "continue") out.push(`cont:${e.text}`);
    else if (e.kind === "data") body!.push(Buffer.from(e.chunk));
    else out.push(`body:${Buffer.concat(body!).toString("latin1")}`);
  });
  for (const x of expectations) d.expect(x);
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    d.push(bytes.slice(pos, pos + n));
    pos += n;
  }
  expect(d.pending).toBe(0);
  return out;
}

// A message with every awkward line: a lone dot, dots at line starts, ".\r" not followed by LF,
// a "." at the very end without a line end, 8-bit bytes, an empty line, bare LF.
const message = Buffer.concat([
  Buffer.from("Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n.\rnot-end\r\nmid . dot\r\n\r\nbare\nlf\n.\n"),
  Buffer.from([0xc3, 0xa9, 0xff, 0x0d, 0x0a]),
  Buffer.from("last line ."),
]);

const conversation = Buffer.concat([
  Buffer.from("+OK POP3 ready <1896.697170952@dbc.mw.net>\r\n"),
  Buffer.from("+OK Capability list follows\r\nUSER\r\nUIDL\r\nPIPELINING\r\nSASL PLAIN XOAUTH2\r\n.\r\n"),
  Buffer.from("+ \r\n-ERR [AUTH] Authentication failed.\r\n"),
  Buffer.from("+OK 2 messages\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"),
  Buffer.from("-ERR no such message\r\n"),
  Buffer.from("+OK 120 octets\r\n"),
  dotStuff(message),
  Buffer.from("+OK\r\n.\r\n"),
  Buffer.from("+OK bye\r\n"),
]);
const expectations: Expectation[] = ["single", "multi", "sasl", "multi", "multi", "multi", "multi", "single"];
const expected = [
  "+POP3 ready <1896.697170952@dbc.mw.net>",
  "+Capability list follows",
  "body:USER\r\nUIDL\r\nPIPELINING\r\nSASL PLAIN XOAUTH2\r\n",
  "cont:",
  "-[AUTH] Authentication failed.",
  "+2 messages",
  "body:1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n",
  "-no such message",
  "+120 octets",
  `body:${message.toString("latin1")}\r\n`,
  "+",
  "body:",
  "+bye",
];

describe("Pop3Decoder", () => {
  test("a whole conversation in one piece: status lines, bodies, a SASL continuation, -ERR on a multi-line command", () => {
    expect(decode(expectations, conversation, [conversation.length])).toEqual(expected);
  });

  test("every split position into two pieces gives the same result", () => {
    for (let cut = 1; cut < conversation.length; cut++) {
      expect(decode(expectations, conversation, [cut, conversation.length])).toEqual(expected);
    }
  });

  test("1-byte pieces and pseudo-random mixes of sizes (CRLF, '.' and '.\\r' split anywhere)", () => {
    expect(decode(expectations, conversation, [1])).toEqual(expected);
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
    for (let round = 0; round < 200; round++) {
      const sizes = Array.from({ length: 30 }, () => (rand() % 7) + 1);
      expect(decode(expectations, conversation, sizes)).toEqual(expected);
    }
  });

  test("a lone dot line inside a message is data, only the unstuffed terminator ends it", () => {
    const body = Buffer.from("a\r\n.\r\nb\r\n");
    const stuffed = dotStuff(body).toString("latin1");
    expect(stuffed).toBe("a\r\n..\r\nb\r\n.\r\n");
    expect(decode(["multi"], Buffer.from(`+OK\r\n${stuffed}`), [1])).toEqual(["+", `body:${body.toString("latin1")}`]);
  });

  test("bare LF line ends from a sloppy server are accepted", () => {
    expect(decode(["single", "multi"], enc.encode("+OK hi\n+OK\n1 a\n..x\n.\n"), [2])).toEqual(["+hi", "+", "body:1 a\n.x\n"]);
  });

  test("a large body arrives as a few chunks, not one event per line", () => {
    const big = Buffer.from("line of text\r\n".repeat(50_000));
    let events = 0;
    let bytes = 0;
    const d = new Pop3Decoder((e) => {
      if (e.kind === "data") (events++, (bytes += e.chunk.length));
    });
    d.expect("multi");
    const wire = Buffer.concat([Buffer.from("+OK\r\n"), dotStuff(big)]);
    for (let pos = 0; pos < wire.length; pos += 65536) d.push(wire.subarray(pos, pos + 65536));
    expect(bytes).toBe(big.length);
    expect(events).toBeLessThanOrEqual(Math.ceil(wire.length / 65536) + 1);
  });

  test("garbage, unexpected data and an endless status line are protocol errors", () => {
    const d1 = new Pop3Decoder(() => {});
    d1.expect("single");
    expect(() => d1.push(enc.encode("* OK IMAP4rev1 ready\r\n"))).toThrow(Pop3ProtocolError);
    const d2 = new Pop3Decoder(() => {});
    expect(() => d2.push(enc.encode("+OK surprise\r\n"))).toThrow(/unexpected data/);
    const d3 = new Pop3Decoder(() => {});
    d3.expect("single");
    expect(() => {
      for (let i = 0; i < 100; i++) d3.push(new Uint8Array(1024).fill(0x41));
    }).toThrow(/longer than/);
  });

  test("dotStuff: a message without a final line end gets one before the terminator", () => {
    expect(dotStuff(Buffer.from(".a\r\nb")).toString()).toBe("..a\r\nb\r\n.\r\n");
    expect(dotStuff(Buffer.alloc(0)).toString()).toBe(".\r\n");
  });
});
