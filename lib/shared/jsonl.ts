// JSON Lines append: whole lines, one write per batch, on a descriptor opened O_APPEND without
// following symlinks (lib/shared/safe-fs.ts), created 0600. The appender knows the file's size,
// so it can say at which byte offset each line starts (the collector's log index). `write` and
// `sync` are split for group commit: lines written without waiting, then one fsync off the
// event loop covering all of them.
import { closeSync, fdatasync, fstatSync, writeSync } from "node:fs";
import { openAppendNoFollow } from "./safe-fs";

export class JsonlAppender {
  private fd: number;
  /** bytes in the file: where the next line starts */
  size: number;
  readonly dev: number;
  readonly ino: number;

  /** Opens PATH for appending; throws on a symlink (MailerError "state") or an fs error. */
  constructor(readonly path: string) {
    this.fd = openAppendNoFollow(path);
    const st = fstatSync(this.fd);
    this.size = st.size;
    this.dev = st.dev;
    this.ino = st.ino;
  }

  /** Appends the entries as one write, not yet durable (a kill -9 keeps them: they are in the
   *  page cache; an OS crash may not — see `sync`). Throws on failure; returns the byte offset
   *  at which each entry's line starts. */
  write(entries: unknown[]): number[] {
    if (entries.length === 0) return [];
    const offsets: number[] = [];
    let text = "";
    let at = this.size;
    for (const e of entries) {
      const line = JSON.stringify(e) + "\n";
      offsets.push(at);
      at += Buffer.byteLength(line);
      text += line;
    }
    this.writeRaw(Buffer.from(text, "utf8"));
    return offsets;
  }

  /** A crash in the middle of a write can leave a line without its newline; the next append
   *  would glue onto it. Ends it, so the torn line stays one bad line and nothing else. */
  endTornLine(lastByte: number | null): void {
    if (lastByte !== null && lastByte !== 0x0a) this.writeRaw(Buffer.from("\n"));
  }

  private writeRaw(data: Buffer): void {
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.fd, data, offset, data.length - offset);
    } finally {
      this.size += offset;
    }
  }

  /** Makes every line written so far durable (fdatasync on the thread pool: the event loop
   *  goes on meanwhile). Rejects on failure (EIO, ENOSPC on some filesystems). */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    closeSync(this.fd);
  }
}
