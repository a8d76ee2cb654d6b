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

/** Buffers up to this size are kept between lines; a larger one is given back once its line is done. */
const KEEP_BYTES = 4096;
const FIRST_BYTES = 256;

export class LineAssembler {
  // One contiguous buffer for the line in progress, grown by doubling: its memory is at most
  // twice the bytes held, however the bytes were split. (One slice per data event cost ~110
  // bytes of overhead per 1-byte TCP segment: 6.6 MB for a 60 KB line.)
  private buf: Uint8Array | null = null;
  private size = 0;
  private overflowed = false;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  /** @param maxBytes longest accepted line in bytes, not counting its "\n" (or "\r\n") */
  constructor(readonly maxBytes: number) {}

  /** Bytes held for the line in progress. */
  get buffered(): number {
    return this.size;
  }

  /** Bytes of memory reserved for the line in progress (for memory checks). */
  get capacity(): number {
    return this.buf?.length ?? 0;
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
        this.append(chunk.subarray(start));
        break;
      }
      let frame: Frame | null;
      if (this.size === 0) frame = this.decodeLine(chunk.subarray(start, nl)); // the whole line is in this chunk: no copy
      else {
        this.append(chunk.subarray(start, nl));
        frame = this.takeLine();
      }
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

  private append(bytes: Uint8Array): void {
    const need = this.size + bytes.length;
    if (!this.buf || this.buf.length < need) {
      let cap = Math.max(FIRST_BYTES, this.buf?.length ?? 0);
      while (cap < need) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, this.maxBytes + 1));
      if (this.buf) grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    this.buf.set(bytes, this.size);
    this.size = need;
  }

  private overflow(frames: Frame[]): Frame[] {
    this.overflowed = true;
    this.buf = null;
    this.size = 0;
    frames.push({ kind: "overflow" });
    return frames;
  }

  /** The line collected so far, or null when it is over the limit. */
  private takeLine(): Frame | null {
    const frame = this.decodeLine(this.buf!.subarray(0, this.size));
    this.size = 0;
    if (this.buf!.length > KEEP_BYTES) this.buf = null;
    return frame;
  }

  /** One line's bytes (without "\n") as a frame; null when over the limit. Decoding copies. */
  private decodeLine(line: Uint8Array): Frame | null {
    let bytes = line;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.maxBytes) return null;
    try {
      return { kind: "line", text: this.decoder.decode(bytes) };
    } catch {
      return { kind: "invalid-utf8" };
    }
  }
}
