// JSON Lines append: open with "a" (Bun's FileSink has no append mode), write whole lines.
// `append` fsyncs before returning, so that a line reported as written survives a crash.
// `write` + `sync` split the two for group commit (lib/collector-core.ts): lines written
// without waiting, then one fsync off the event loop covering all of them.
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export class JsonlAppender {
  private fd: number;
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "a", 0o640);
  }

  /** Appends the entries as one write and fsyncs; throws (e.g. ENOSPC, EACCES) on failure. */
  append(entries: unknown[]): void {
    if (this.write(entries)) fsyncSync(this.fd);
  }

  /** Appends the entries as one write, not yet durable (a kill -9 keeps them: they are in the
   *  page cache; an OS crash may not — see `sync`). Throws on failure; returns whether
   *  anything was written. */
  write(entries: unknown[]): boolean {
    if (entries.length === 0) return false;
    let text = "";
    for (const e of entries) text += JSON.stringify(e) + "\n";
    const data = Buffer.from(text, "utf8");
    let offset = 0;
    while (offset < data.length) offset += writeSync(this.fd, data, offset, data.length - offset);
    return true;
  }

  /** fsync on this thread: every line written so far is durable when it returns. */
  syncNow(): void {
    fsyncSync(this.fd);
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
