// Durable JSON Lines append: open with "a" (Bun's FileSink has no append mode), write whole
// lines, fsync before returning, so that a line reported as written survives a crash.
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export class JsonlAppender {
  private fd: number;
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "a", 0o640);
  }

  /** Appends the entries as one write and fsyncs; throws (e.g. ENOSPC, EACCES) on failure. */
  append(entries: unknown[]): void {
    if (entries.length === 0) return;
    const data = Buffer.from(entries.map((e) => JSON.stringify(e) + "\n").join(""), "utf8");
    let offset = 0;
    while (offset < data.length) offset += writeSync(this.fd, data, offset, data.length - offset);
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}
