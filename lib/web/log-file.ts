// One collector log (JSON Lines, appended, never rewritten) read incrementally, so the
// dashboard stays fast on a 1,000,000-entry log:
// - a page of the newest entries is read backwards from the end of the file (or from a byte
//   offset, the "older" cursor) — no index needed, so the first page never waits;
// - in the background, one pass builds a small index: where each line starts and which ticket
//   it belongs to (two Float64Arrays, 16 bytes a line) and requests per day; threads and
//   ticket-number search use it, and nothing else of the log stays in memory;
// - `poll()` indexes what the collector appended since and hands the new entries to listeners.
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";

export type Entry = Record<string, unknown> & { offset: number };

export interface Page {
  entries: Entry[];
  /** byte offset for the next (older) page, null at the start of the file */
  older: number | null;
}

const CHUNK = 1 << 20;
const YIELD_EVERY = 4 * CHUNK;
const TIME_KEY = Buffer.from('{"time":"');
const TICKET_KEY = Buffer.from(',"ticket":"');
const REPLY_KEY = Buffer.from(',"reply":true');

export class LogFile {
  private offsets: Float64Array = new Float64Array(4096);
  private tickets: Float64Array = new Float64Array(4096);
  private lines = 0;
  /** bytes indexed: always the end of a complete line */
  private indexed = 0;
  /** requests (not replies) per day, "YYYY-MM-DD" → count */
  readonly perDay = new Map<string, number>();
  private readonly listeners = new Set<(entry: Entry) => void>();
  private running: Promise<void> | null = null;
  private lastDay = -1;
  private lastDayText = "";
  private built = false;

  constructor(readonly path: string) {}

  get count(): number {
    return this.lines;
  }
  get ready(): boolean {
    return this.built;
  }

  onEntry(listener: (entry: Entry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Indexes everything appended since the last call; the first call builds the index. */
  poll(): Promise<void> {
    this.running ??= this.catchUp().finally(() => {
      this.running = null;
      this.built = true;
    });
    return this.running;
  }

  /** Waits for the initial index (threads and ticket search need it). */
  async whenReady(): Promise<void> {
    while (!this.built) await this.poll();
  }

  private async catchUp(): Promise<void> {
    const size = sizeOf(this.path);
    if (size < this.indexed) this.reset(); // replaced or truncated by hand: start over
    if (size <= this.indexed) return;
    const emit = this.built && this.listeners.size > 0;
    const fd = openSync(this.path, "r");
    try {
      let buf = Buffer.allocUnsafe(CHUNK);
      let sinceYield = 0;
      while (this.indexed < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.indexed), this.indexed);
        const used = this.indexChunk(buf, n, emit);
        if (used === 0) {
          if (n < buf.length) break; // an unfinished last line: the collector is writing it
          buf = Buffer.allocUnsafe(buf.length * 2); // one line longer than the buffer
          continue;
        }
        this.indexed += used;
        if ((sinceYield += used) >= YIELD_EVERY) {
          sinceYield = 0;
          await new Promise((r) => setImmediate(r)); // let pages be served meanwhile
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Indexes the complete lines in buf[0, n); returns how many bytes they took. */
  private indexChunk(buf: Buffer, n: number, emit: boolean): number {
    let start = 0;
    for (let nl = buf.indexOf(10, 0); nl !== -1 && nl < n; nl = buf.indexOf(10, start)) {
      if (nl > start) this.indexLine(buf, start, nl, this.indexed + start, emit);
      start = nl + 1;
    }
    return start;
  }

  private indexLine(buf: Buffer, start: number, end: number, offset: number, emit: boolean): void {
    const head = emit ? null : readHead(buf, start, end);
    let ticket = head?.ticket ?? NaN;
    let day = head ? this.dayString(head.day) : undefined;
    let reply = head?.reply ?? false;
    if (!head) {
      const entry = parseLine(buf.toString("utf8", start, end), offset);
      if (!entry) return; // not an entry (a torn line): not counted, not shown
      ticket = typeof entry.ticket === "string" && /^\d{1,15}$/.test(entry.ticket) ? Number(entry.ticket) : NaN;
      day = typeof entry.time === "string" ? entry.time.slice(0, 10) : undefined;
      reply = entry.reply === true;
      if (emit) for (const listener of this.listeners) listener(entry);
    }
    this.push(offset, ticket);
    if (day && !Number.isNaN(ticket) && !reply) this.perDay.set(day, (this.perDay.get(day) ?? 0) + 1);
  }

  /** "YYYY-MM-DD" of a yyyymmdd number, made once per day rather than once per line. */
  private dayString(day: number): string {
    if (day !== this.lastDay) {
      this.lastDay = day;
      this.lastDayText = `${Math.floor(day / 10000)}-${String(Math.floor(day / 100) % 100).padStart(2, "0")}-${String(day % 100).padStart(2, "0")}`;
    }
    return this.lastDayText;
  }

  private push(offset: number, ticket: number): void {
    if (this.lines === this.offsets.length) {
      this.offsets = grow(this.offsets);
      this.tickets = grow(this.tickets);
    }
    this.offsets[this.lines] = offset;
    this.tickets[this.lines] = ticket;
    this.lines++;
  }

  private reset(): void {
    this.lines = 0;
    this.indexed = 0;
    this.perDay.clear();
  }

  /** Every entry of one ticket (the request and its replies), oldest first. */
  async ticket(ticket: string): Promise<Entry[]> {
    await this.whenReady();
    const n = Number(ticket);
    const found: Entry[] = [];
    const fd = openSync(this.path, "r");
    try {
      for (let i = 0; i < this.lines; i++) {
        if (this.tickets[i] !== n) continue;
        const end = i + 1 < this.lines ? this.offsets[i + 1]! : this.indexed;
        const entry = readEntry(fd, this.offsets[i]!, end - this.offsets[i]!);
        if (entry && entry.ticket === ticket) found.push(entry);
      }
    } finally {
      closeSync(fd);
    }
    return found;
  }

  /** Up to `limit` entries, newest first, that end before byte `before` (default: the end). */
  page(limit: number, before: number | null = null, filter?: Filter, budgetBytes = Infinity): Page {
    return readBackwards(this.path, limit, before, filter, budgetBytes);
  }
}

/**
 * The collector writes time, then ticket, then reply first: read those straight from the bytes,
 * without JSON.parse and without making a string per line (a million lines would otherwise be
 * a million strings of garbage). null when the line does not start that way: parse it fully.
 */
function readHead(buf: Buffer, start: number, end: number): { day: number; ticket: number; reply: boolean } | null {
  if (end - start < TIME_KEY.length + 12 || buf.compare(TIME_KEY, 0, TIME_KEY.length, start, start + TIME_KEY.length) !== 0) return null;
  let p = start + TIME_KEY.length;
  const digit = (i: number) => buf[p + i]! - 48;
  if (buf[p + 4] !== 45 || buf[p + 7] !== 45) return null; // YYYY-MM-DD
  const year = ((digit(0) * 10 + digit(1)) * 10 + digit(2)) * 10 + digit(3);
  const day = year * 10000 + (digit(5) * 10 + digit(6)) * 100 + digit(8) * 10 + digit(9);
  const quote = buf.indexOf(34, p);
  if (quote === -1 || quote >= end) return null;
  p = quote + 1;
  if (buf.compare(TICKET_KEY, 0, TICKET_KEY.length, p, Math.min(end, p + TICKET_KEY.length)) !== 0) return { day, ticket: NaN, reply: false };
  p += TICKET_KEY.length;
  let ticket = 0;
  let digits = 0;
  for (; p < end && buf[p]! >= 48 && buf[p]! <= 57 && digits < 15; p++, digits++) ticket = ticket * 10 + buf[p]! - 48;
  if (digits === 0 || buf[p] !== 34) return null;
  const reply = buf.compare(REPLY_KEY, 0, REPLY_KEY.length, p + 1, Math.min(end, p + 1 + REPLY_KEY.length)) === 0;
  return { day, ticket, reply };
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no log yet: nothing to show
  }
}

function parseLine(line: string, offset: number): Entry | null {
  try {
    const value = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? { ...value, offset } : null;
  } catch {
    return null;
  }
}

function readEntry(fd: number, offset: number, length: number): Entry | null {
  const buf = Buffer.allocUnsafe(length);
  const n = readSync(fd, buf, 0, length, offset);
  // up to the first newline: lines that are not entries (not indexed) may follow it
  const nl = buf.indexOf(10);
  return parseLine(buf.toString("utf8", 0, nl === -1 || nl > n ? n : nl), offset);
}

export interface Filter {
  /** cheap test on the raw JSON line, before it is parsed */
  line?: (line: string) => boolean;
  /** the real test on the parsed entry */
  entry?: (entry: Entry) => boolean;
}

/**
 * Reads lines from `before` towards the start of the file in chunks, newest first, keeping
 * those the filter accepts, until `limit` are found, the start is reached, or `budgetBytes`
 * were read (a search over a huge log then answers with a cursor to go on from).
 */
export function readBackwards(path: string, limit: number, before: number | null, filter: Filter = {}, budgetBytes = Infinity): Page {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return { entries: [], older: null };
  }
  try {
    const size = fstatSync(fd).size;
    // An unfinished last line (the collector is writing it) is not shown yet.
    let end = before === null ? lastNewline(fd, size) : Math.min(before, size);
    const entries: Entry[] = [];
    let carry = Buffer.alloc(0); // the end of a line that began before `end`
    let read = 0;
    while (end > 0 && read < budgetBytes) {
      const start = Math.max(0, end - CHUNK);
      const chunk = Buffer.allocUnsafe(end - start);
      readSync(fd, chunk, 0, chunk.length, start);
      read += chunk.length;
      const data = carry.length ? Buffer.concat([chunk, carry]) : chunk;
      const cut = start === 0 ? -1 : data.indexOf(10);
      if (cut === -1 && start > 0) {
        carry = data; // no line starts inside this chunk
        end = start;
        continue;
      }
      const lines = data.toString("utf8", cut + 1, data.length).split("\n");
      const offsets = new Array<number>(lines.length);
      let at = start + cut + 1;
      for (let i = 0; i < lines.length; i++) {
        offsets[i] = at;
        at += Buffer.byteLength(lines[i]!) + 1;
      }
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!;
        if (line === "" || (filter.line && !filter.line(line))) continue;
        const entry = parseLine(line, offsets[i]!);
        if (!entry || (filter.entry && !filter.entry(entry))) continue;
        entries.push(entry);
        if (entries.length === limit) return { entries, older: offsets[i]! > 0 ? offsets[i]! : null };
      }
      carry = start > 0 ? data.subarray(0, cut) : Buffer.alloc(0);
      end = start;
    }
    return { entries, older: end > 0 ? end + carry.length : null };
  } finally {
    closeSync(fd);
  }
}

/** The end of the last complete line at or before `end`. */
function lastNewline(fd: number, end: number): number {
  const probe = Buffer.allocUnsafe(Math.min(end, CHUNK));
  let pos = end;
  while (pos > 0) {
    const start = Math.max(0, pos - probe.length);
    const n = readSync(fd, probe, 0, pos - start, start);
    const nl = probe.subarray(0, n).lastIndexOf(10);
    if (nl !== -1) return start + nl + 1;
    pos = start;
  }
  return 0;
}
