// POP3 response framing (RFC 1939 §3, RFC 2449, RFC 5034): status lines (+OK / -ERR / "+ "
// SASL continuation) and multi-line bodies ending in a line holding only ".", with the leading
// "." of any other line removed (dot-unstuffing). TCP hands over arbitrary pieces (NOTES:
// bun#13944), so the decoder keeps its state between pushes and never assumes that a piece
// starts or ends at a line, a response, or even a CRLF.
//
// Which responses carry a body is known only to the client (RETR/UIDL/LIST/CAPA do, after +OK),
// so it tells the decoder, in order, what each response it waits for looks like (`expect`).
// Bodies are handed on as chunks of the original bytes, not as lines: a 30 MB message costs a
// few hundred events, not half a million.

export type Expectation = "single" | "multi" | "sasl";

export type Pop3Event =
  | { kind: "status"; ok: boolean; text: string }
  /** "+ challenge" during AUTH (sasl expectation only); the expectation stays in force */
  | { kind: "continue"; text: string }
  /** unstuffed bytes of a multi-line body, line ends included */
  | { kind: "data"; chunk: Uint8Array }
  | { kind: "end" };

export class Pop3ProtocolError extends Error {}

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
/** RFC 2449 allows 512 octets per status line; servers' texts run longer, this bounds memory. */
export const MAX_STATUS_LINE = 64 * 1024;

export class Pop3Decoder {
  private readonly queue: Expectation[] = [];
  /** bytes of an unfinished status line, or of a body line start still undecided ("." / ".\r") */
  private held: Uint8Array = new Uint8Array(0);
  private inBody = false;
  private atLineStart = true;

  constructor(private readonly emit: (event: Pop3Event) => void) {}

  /** The next response still to come looks like this (call once per command sent, in order). */
  expect(kind: Expectation): void {
    this.queue.push(kind);
  }

  /** Responses awaited (including one whose body is being read). */
  get pending(): number {
    return this.queue.length;
  }

  push(piece: Uint8Array): void {
    let buf = piece;
    if (this.held.length > 0) {
      buf = new Uint8Array(this.held.length + piece.length);
      buf.set(this.held, 0);
      buf.set(piece, this.held.length);
      this.held = new Uint8Array(0);
    }
    let i = 0;
    while (i < buf.length) i = this.inBody ? this.body(buf, i) : this.status(buf, i);
  }

  /** Reads one status line from `i`; returns where the next thing starts. */
  private status(buf: Uint8Array, i: number): number {
    const lf = buf.indexOf(LF, i);
    if (lf < 0) {
      if (buf.length - i > MAX_STATUS_LINE) throw new Pop3ProtocolError(`a POP3 status line longer than ${MAX_STATUS_LINE} bytes`);
      this.held = buf.slice(i);
      return buf.length;
    }
    const end = lf > i && buf[lf - 1] === CR ? lf - 1 : lf;
    const line = new TextDecoder().decode(buf.subarray(i, end));
    const expected = this.queue[0];
    if (expected === undefined) throw new Pop3ProtocolError(`unexpected data from the POP3 server: ${JSON.stringify(line.slice(0, 80))}`);
    if (expected === "sasl" && (line === "+" || line.startsWith("+ "))) {
      this.emit({ kind: "continue", text: line.slice(2) });
      return lf + 1;
    }
    const ok = /^\+OK\b/i.test(line);
    if (!ok && !/^-ERR\b/i.test(line)) throw new Pop3ProtocolError(`not a POP3 response: ${JSON.stringify(line.slice(0, 80))}`);
    const text = line.slice(ok ? 3 : 4).replace(/^ /, "");
    if (ok && expected === "multi") {
      this.inBody = true;
      this.atLineStart = true;
    } else {
      this.queue.shift();
    }
    this.emit({ kind: "status", ok, text });
    return lf + 1;
  }

  /** Reads body bytes from `i` up to the terminator or the end of `buf`. */
  private body(buf: Uint8Array, i: number): number {
    let runStart = i;
    const flush = (upTo: number) => {
      if (upTo > runStart) this.emit({ kind: "data", chunk: buf.subarray(runStart, upTo) });
    };
    while (i < buf.length) {
      if (this.atLineStart && buf[i] === DOT) {
        // "." CRLF (or a bare LF) ends the body; any other "." at a line start is stuffing
        if (i + 1 >= buf.length || (buf[i + 1] === CR && i + 2 >= buf.length)) {
          flush(i);
          this.held = buf.slice(i);
          return buf.length;
        }
        const terminator = buf[i + 1] === LF ? 2 : buf[i + 1] === CR && buf[i + 2] === LF ? 3 : 0;
        if (terminator) {
          flush(i);
          this.inBody = false;
          this.queue.shift();
          this.emit({ kind: "end" });
          return i + terminator;
        }
        flush(i);
        runStart = i + 1; // drop the stuffed dot
      }
      const lf = buf.indexOf(LF, i + (this.atLineStart && buf[i] === DOT ? 1 : 0));
      if (lf < 0) {
        this.atLineStart = false;
        i = buf.length;
      } else {
        this.atLineStart = true;
        i = lf + 1;
      }
    }
    flush(buf.length);
    return buf.length;
  }
}

/** Dot-stuffs a message for a multi-line response and adds the terminator (server side, tests). */
export function dotStuff(source: Uint8Array): Buffer {
  const text = Buffer.from(source);
  const parts: Buffer[] = [];
  let start = 0;
  let lineStart = 0;
  while (lineStart < text.length) {
    if (text[lineStart] === DOT) {
      parts.push(text.subarray(start, lineStart), Buffer.from("."));
      start = lineStart;
    }
    const lf = text.indexOf(LF, lineStart);
    if (lf < 0) break;
    lineStart = lf + 1;
  }
  parts.push(text.subarray(start));
  const ends = text.length === 0 || text[text.length - 1] === LF;
  parts.push(Buffer.from(ends ? ".\r\n" : "\r\n.\r\n"));
  return Buffer.concat(parts);
}
