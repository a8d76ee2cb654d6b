// The two collector logs, and what they say is already done. Entries carry uidValidity, uid
// and the sha256 of the message source, so on start-up the collector knows which messages are
// logged even when a kill -9 came between the log append and the checkpoint write.
import { closeSync, createReadStream, existsSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Classified } from "./classify";
import { JsonlAppender } from "../shared/jsonl";

export const SUCCESS_LOG = "success_request.log";
export const ERROR_LOG = "error_request.log";

interface Logged {
  uids: Set<number>;
  /** sha256 → how many logged messages had that source */
  digests: Map<string, number>;
}

export class CollectorLog {
  private readonly byUidValidity = new Map<number, Logged>();
  private success: JsonlAppender | null = null;
  private error: JsonlAppender | null = null;
  /** lines that are not entries of ours (hand edits, a line cut by a crash): counted, skipped */
  badLines = 0;

  constructor(readonly logDir: string) {}

  get successPath(): string {
    return join(this.logDir, SUCCESS_LOG);
  }
  get errorPath(): string {
    return join(this.logDir, ERROR_LOG);
  }

  /** Reads both logs (streaming, line by line) into the index, then opens them for append. */
  async load(): Promise<void> {
    for (const path of [this.successPath, this.errorPath]) {
      if (!existsSync(path)) continue;
      terminateLastLine(path);
      const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
      for await (const line of lines) {
        if (line.trim() === "") continue;
        let entry: { uidValidity?: unknown; uid?: unknown; sha256?: unknown } | null = null;
        try {
          entry = JSON.parse(line);
        } catch {}
        if (entry && Number.isInteger(entry.uidValidity) && Number.isInteger(entry.uid)) {
          this.note(entry.uidValidity as number, entry.uid as number, typeof entry.sha256 === "string" ? entry.sha256 : null);
        } else {
          this.badLines++;
        }
      }
    }
    this.success = new JsonlAppender(this.successPath);
    this.error = new JsonlAppender(this.errorPath);
  }

  has(uidValidity: number, uid: number): boolean {
    return this.byUidValidity.get(uidValidity)?.uids.has(uid) ?? false;
  }

  maxUid(uidValidity: number): number {
    let max = 0;
    for (const uid of this.byUidValidity.get(uidValidity)?.uids ?? []) if (uid > max) max = uid;
    return max;
  }

  /** How often each source was logged under any UIDVALIDITY other than this one. */
  digestsOutside(uidValidity: number): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [uv, logged] of this.byUidValidity) {
      if (uv === uidValidity) continue;
      for (const [digest, n] of logged.digests) counts.set(digest, (counts.get(digest) ?? 0) + n);
    }
    return counts;
  }

  /** Appends in the given order, success entries then error entries, without waiting for the
   *  disk: the entries count as logged from now on (a kill -9 keeps them), but only `sync()`
   *  makes them survive an OS crash — nothing may claim them done durably before it. */
  write(items: Classified[]): void {
    if (!this.success || !this.error) throw new Error("CollectorLog.load() first");
    const ok: unknown[] = [];
    const bad: unknown[] = [];
    for (const i of items) (i.log === "success" ? ok : bad).push(i.entry);
    this.success.write(ok);
    this.error.write(bad);
    for (const { entry } of items) this.note(entry.uidValidity, entry.uid, entry.sha256);
  }

  /** fdatasync of both logs, off the event loop. */
  async sync(): Promise<void> {
    if (!this.success || !this.error) throw new Error("CollectorLog.load() first");
    await Promise.all([this.success.sync(), this.error.sync()]);
  }

  close(): void {
    this.success?.close();
    this.error?.close();
    this.success = this.error = null;
  }

  private note(uidValidity: number, uid: number, sha256: string | null): void {
    let logged = this.byUidValidity.get(uidValidity);
    if (!logged) this.byUidValidity.set(uidValidity, (logged = { uids: new Set(), digests: new Map() }));
    logged.uids.add(uid);
    if (sha256) logged.digests.set(sha256, (logged.digests.get(sha256) ?? 0) + 1);
  }
}

/** A crash in the middle of a write can leave a line without its newline; the next append
 *  would glue onto it. End it, so the torn line stays one bad line and nothing else. */
function terminateLastLine(path: string): void {
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) writeSync(fd, "\n", size);
  } finally {
    closeSync(fd);
  }
}
