// An in-memory Mailbox for unit tests: messages with UIDs and flags, a UIDVALIDITY that can be
// changed, new mail that wakes waitForChange, and a switch that makes the connection fail.
import type { Mailbox, MailboxInfo, UidQuery } from "../../lib/collector/imap-mailbox";

export interface MemoryMessage {
  uid: number;
  flags: Set<string>;
  source: Buffer;
}

export class MemoryMailbox implements Mailbox {
  messages: MemoryMessage[] = [];
  uidValidity: number;
  private nextUid = 1;
  private changed = false;
  private wake: (() => void) | null = null;
  /** when set, every call fails with it (a dropped connection) */
  failWith: Error | null = null;
  /** what was asked for, for assertions */
  readonly calls: string[] = [];
  /** the server's name in its IMAP ID answer, when set */
  server: string | undefined;

  constructor(uidValidity = 1000, readonly idle = true) {
    this.uidValidity = uidValidity;
  }

  add(source: Buffer | string, flags: string[] = []): number {
    const uid = this.nextUid++;
    this.messages.push({ uid, flags: new Set(flags), source: typeof source === "string" ? Buffer.from(source) : source });
    this.changed = true;
    this.wake?.();
    return uid;
  }

  /** A new mailbox under the same name: new UIDVALIDITY, UIDs from 1 again, same messages. */
  renumber(uidValidity: number): void {
    this.uidValidity = uidValidity;
    this.nextUid = 1;
    for (const m of this.messages) m.uid = this.nextUid++;
  }

  async open(): Promise<MailboxInfo> {
    this.guard("open");
    this.changed = false;
    return { uidValidity: this.uidValidity, exists: this.messages.length, idle: this.idle, tls: true, ...(this.server ? { server: this.server } : {}) };
  }

  async search(query: UidQuery): Promise<number[]> {
    this.guard(`search ${JSON.stringify(query)}`);
    return this.messages
      .filter((m) => ("above" in query ? m.uid > query.above : "unseen" in query ? !m.flags.has("\\Seen") : "uids" in query ? query.uids.includes(m.uid) : true))
      .map((m) => m.uid);
  }

  async sizes(uids: number[]) {
    this.guard(`sizes ${uids.length}`);
    return this.pick(uids).map((m) => ({ uid: m.uid, size: m.source.length }));
  }

  async fetchSources(uids: number[]) {
    this.guard(`fetchSources ${uids.join(",")}`);
    return this.pick(uids).map((m) => ({ uid: m.uid, source: Buffer.from(m.source) }));
  }

  async streamSource(uid: number): Promise<AsyncIterable<Uint8Array> | null> {
    this.guard(`streamSource ${uid}`);
    const m = this.pick([uid])[0];
    if (!m) return null;
    const source = m.source;
    return (async function* () {
      for (let i = 0; i < source.length; i += 64 * 1024) yield source.subarray(i, i + 64 * 1024);
    })();
  }

  async waitForChange(ms: number, signal: AbortSignal): Promise<"changed" | "timeout" | "aborted"> {
    this.guard("waitForChange");
    if (signal.aborted) return "aborted"; // as the imapflow Mailbox does: never wait after a stop
    if (this.changed) return "changed";
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish("timeout"), ms);
      const onAbort = () => finish("aborted");
      const finish = (how: "changed" | "timeout" | "aborted") => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.wake = null;
        resolve(how);
      };
      this.wake = () => finish("changed");
      signal.addEventListener("abort", onAbort);
    });
  }

  async close(): Promise<void> {}

  private pick(uids: number[]): MemoryMessage[] {
    const wanted = new Set(uids);
    return this.messages.filter((m) => wanted.has(m.uid));
  }

  private guard(call: string): void {
    this.calls.push(call);
    if (this.failWith) throw this.failWith;
  }
}
