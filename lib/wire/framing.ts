// Newline framing for the NDJSON wire protocol. TCP delivers arbitrary chunks (one byte, or
// several requests at once), so bytes are collected until a "\n" and only whole lines are
// decoded — a multibyte UTF-8 character split across chunks is therefore never mangled.
// A line longer than the limit is reported as overflow as soon as the limit is passed, so no
// more than `maxBytes` (+ one chunk being scanned) is ever held.

export type Frame =
  | { kind: "line"; text: string }
  | { kind: "invalid-utf8" }
  | { kind: "overflow" };

const NL = 0x0a;
const CR = 0x0d;

export class LineAssembler {
  private parts: Uint8Array[] = [];
  private size = 0;
  private overflowed = false;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  /** @param maxBytes longest accepted line in bytes, not counting its "\n" (or "\r\n") */
  constructor(readonly maxBytes: number) {}

  /** Bytes held for the line in progress. */
  get buffered(): number {
    return this.size;
  }

  /**
   * Feeds one chunk; returns the frames it completes, in order. After an overflow the
   * assembler is finished: it returns nothing more (the connection is to be closed).
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    if (this.overflowed) return frames;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl;
      // +1: room for the "\r" of a "\r\n" line end, checked exactly once the line is complete.
      if (this.size + (end - start) > this.maxBytes + 1) return this.overflow(frames);
      if (nl === -1) {
        // Copied: the runtime may reuse the chunk's memory after the data callback returns.
        this.parts.push(chunk.slice(start));
        this.size += chunk.length - start;
        break;
      }
      this.parts.push(chunk.subarray(start, nl));
      this.size += nl - start;
      const frame = this.takeLine();
      if (!frame) return this.overflow(frames);
      frames.push(frame);
      start = nl + 1;
    }
    return frames;
  }

  /** At end of input: a last line without its "\n" still counts as a line. */
  finish(): Frame[] {
    if (this.overflowed || this.size === 0) return [];
    const frame = this.takeLine();
    return frame ? [frame] : this.overflow([]);
  }

  private overflow(frames: Frame[]): Frame[] {
    this.overflowed = true;
    this.parts = [];
    this.size = 0;
    frames.push({ kind: "overflow" });
    return frames;
  }

  /** The line collected so far, or null when it is over the limit. */
  private takeLine(): Frame | null {
    let bytes: Uint8Array;
    if (this.parts.length === 1) bytes = this.parts[0]!;
    else {
      bytes = new Uint8Array(this.size);
      let offset = 0;
      for (const p of this.parts) {
        bytes.set(p, offset);
        offset += p.length;
      }
    }
    this.parts = [];
    this.size = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.maxBytes) return null;
    try {
      return { kind: "line", text: this.decoder.decode(bytes) };
    } catch {
      return { kind: "invalid-utf8" };
    }
  }
}
