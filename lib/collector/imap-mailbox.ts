// The collector's view of an IMAP mailbox, behind a small interface: ImapMailbox (imapflow)
// in production and integration tests, MemoryMailbox (tests/fakes/memory-mailbox.ts) in unit tests.
// Every read is a peek: the mailbox is opened read-only (EXAMINE) and sources are fetched
// with BODY.PEEK[], so the collector never sets \Seen or any other flag.
import { ImapFlow } from "imapflow";
import type { Endpoint } from "../shared/config";
import { usesImplicitTls } from "../shared/config";
import { tlsOptions } from "../shared/tls";
import { restrictMechanism } from "./imap-oauth2";
import type { Mechanism } from "../shared/oauth2/presets";

export interface MailboxInfo {
  uidValidity: number;
  /** messages in the mailbox now */
  exists: number;
  /** the server offers IDLE, so waitForChange wakes on new mail */
  idle: boolean;
  /** the connection is encrypted (implicit TLS or STARTTLS) */
  tls: boolean;
  /** the server's name from its IMAP ID answer (RFC 2971), when it gave one: "Mailer sandbox" */
  server?: string;
}

/** See Mailbox.sizes. */
export const SMALL_MESSAGE = 64 * 1024;

/**
 * The largest IMAP literal (one piece of a server's reply) imapflow may buffer, and the longest
 * line. Sources over the collector's streamAbove (1 MiB) are fetched in 64 KiB windows, and held
 * whole ones are at most that size, so only a broken or hostile server announces more — imapflow's
 * own default, 1 GiB, let one drive the collector to 2 GB. A larger literal ends the connection;
 * the message it belonged to gets a "too large" entry with its size (pipeline.ts).
 */
export const MAX_LITERAL_BYTES = 32 * 1024 * 1024;

/** The announced size when `err` is imapflow's refusal of a literal over MAX_LITERAL_BYTES. */
export function literalTooLarge(err: unknown): { size: number; max: number } | null {
  const e = err as { code?: string; literalSize?: number; maxSize?: number } | null;
  if (e?.code !== "LiteralTooLarge") return null;
  return { size: Number.isFinite(e.literalSize) ? e.literalSize! : Number.MAX_SAFE_INTEGER, max: e.maxSize ?? MAX_LITERAL_BYTES };
}

/** `uids`: which of these UIDs are still in the mailbox (not expunged) */
export type UidQuery = { all: true } | { unseen: true } | { above: number } | { uids: number[] };

export interface Mailbox {
  /** Opens (first call) or refreshes the mailbox; also clears the "changed" mark. */
  open(): Promise<MailboxInfo>;
  /** UIDs matching the query, ascending. `above` filters itself (a UID range N:* always
   *  returns the last message, even when every UID is below N). */
  search(query: UidQuery): Promise<number[]>;
  /** UID and size for the given UIDs, ascending. The size is RFC822.SIZE, or may be just
   *  SMALL_MESSAGE for a message no larger than that: an upper bound is all the collector needs
   *  to bound a FETCH, and the exact size of a message held whole is its length. A message gone
   *  meanwhile may be left out, or listed and then missing from fetchSources/streamSource. */
  sizes(uids: number[]): Promise<{ uid: number; size: number }[]>;
  /** Whole sources, collected before anything else is sent: imapflow cannot issue another
   *  command while a FETCH is still being read (it would wait forever). */
  fetchSources(uids: number[]): Promise<{ uid: number; source: Buffer }[]>;
  /** The source of one message as a stream of chunks, for messages too large to hold. */
  streamSource(uid: number): Promise<AsyncIterable<Uint8Array> | null>;
  /** Resolves "changed" when new mail arrived since the last open(), "timeout" after `ms`,
   *  "aborted" on signal; rejects when the connection is lost. */
  waitForChange(ms: number, signal: AbortSignal): Promise<"changed" | "timeout" | "aborted">;
  close(): Promise<void>;
}

export interface ImapSettings {
  endpoint: Endpoint;
  login: string;
  password: string;
  ca: string[] | undefined;
  path?: string;
  /** receives imapflow's log lines (already formatted); undefined = no protocol log */
  debug?: (line: string) => void;
  /** restart IDLE this often (some servers drop IDLE after ~29 min) */
  maxIdleMs?: number;
  /** AUTH_METHOD=oauth2: AUTHENTICATE with this token and mechanism instead of the password (see imap-oauth2.ts) */
  oauth2?: { accessToken: string; mechanism: Mechanism };
}

export class ImapMailbox implements Mailbox {
  private changed = false;
  private lost: Error | null = null;
  private listeners = new Set<() => void>();
  private idling: Promise<unknown> | null = null;
  /** UIDs over SMALL_MESSAGE among those from `from` up to `upTo` (see sizes); reset by open() */
  private large: { from: number; upTo: number; uids: Set<number> } | null = null;

  private constructor(private readonly client: ImapFlow, private readonly path: string) {
    client.on("exists", () => this.signal(() => (this.changed = true)));
    client.on("close", () => this.signal(() => (this.lost ??= new Error("the server closed the connection"))));
    client.on("error", (err: Error) => this.signal(() => (this.lost ??= err)));
  }

  /** Connects and logs in; throws imapflow's errors (authenticationFailed, TLS codes, ECONNREFUSED…). */
  static async connect(settings: ImapSettings): Promise<ImapMailbox> {
    const { endpoint } = settings;
    const secure = usesImplicitTls(endpoint, 993);
    const client = new ImapFlow({
      host: endpoint.host,
      port: endpoint.port,
      secure,
      // starttls: required; auto on a non-993 port: used when offered
      ...(endpoint.security === "starttls" ? { doSTARTTLS: true } : {}),
      tls: tlsOptions(endpoint.host, settings.ca),
      auth: settings.oauth2 ? { user: settings.login, accessToken: settings.oauth2.accessToken } : { user: settings.login, pass: settings.password },
      logger: settings.debug ? debugLogger(settings.debug) : false,
      disableAutoIdle: true,
      maxIdleTime: settings.maxIdleMs ?? 5 * 60_000,
      connectionTimeout: 30_000,
      greetingTimeout: 15_000,
      socketTimeout: 10 * 60_000,
      clientInfo: { name: "Mailer collector" },
      maxLiteralSize: MAX_LITERAL_BYTES,
      maxLineLength: MAX_LITERAL_BYTES,
      maxResponseSize: MAX_LITERAL_BYTES + 1024 * 1024,
    } as ConstructorParameters<typeof ImapFlow>[0]);
    // an 'error' event without a listener would throw out of the event loop
    client.on("error", () => {});
    if (settings.oauth2) restrictMechanism(client, settings.oauth2.mechanism);
    await client.connect();
    return new ImapMailbox(client, settings.path ?? "INBOX");
  }

  async open(): Promise<MailboxInfo> {
    this.throwIfLost();
    this.changed = false;
    this.large = null;
    if (!this.client.mailbox || this.client.mailbox.path !== this.path) {
      await this.client.mailboxOpen(this.path, { readOnly: true });
    } else {
      await this.client.noop(); // ends IDLE and collects pending EXISTS
      this.changed = false;
    }
    const box = this.client.mailbox;
    if (!box) throw new Error(`mailbox ${this.path} could not be opened`);
    const server = (this.client.serverInfo as { name?: unknown } | null)?.name;
    return {
      uidValidity: Number(box.uidValidity),
      exists: box.exists,
      idle: this.client.capabilities.has("IDLE"),
      tls: this.client.secureConnection,
      ...(typeof server === "string" ? { server } : {}),
    };
  }

  async search(query: UidQuery): Promise<number[]> {
    this.throwIfLost();
    let uids: number[] | false | undefined;
    if ("above" in query) {
      uids = await this.client.search({ uid: `${query.above + 1}:*` }, { uid: true });
      uids = (uids || []).filter((uid) => uid > query.above);
    } else if ("uids" in query) {
      if (query.uids.length === 0) return [];
      uids = await this.client.search({ uid: uidSet(query.uids) }, { uid: true });
    } else if ("unseen" in query) {
      uids = await this.client.search({ seen: false }, { uid: true });
    } else {
      uids = await this.client.search({ all: true }, { uid: true });
    }
    return [...new Set(uids || [])].sort((a, b) => a - b);
  }

  async sizes(uids: number[]): Promise<{ uid: number; size: number }[]> {
    if (uids.length === 0) return [];
    this.throwIfLost();
    // A FETCH of RFC822.SIZE for every UID costs imapflow about as much as fetching small
    // sources themselves (bench/FINDINGS.md, "Moved from code comments"), and a SEARCH per
    // batch costs the server a scan of the mailbox each time. One SEARCH LARGER per check,
    // answered in one line, tells which messages need their real size; a message's size never
    // changes, so the answer holds for every UID it covered until the next open().
    let min = uids[0]!;
    let max = uids[0]!;
    for (const uid of uids) (min = Math.min(min, uid)), (max = Math.max(max, uid));
    if (!this.large || min < this.large.from || max > this.large.upTo) {
      const found = (await this.client.search({ uid: `${min}:*`, larger: SMALL_MESSAGE }, { uid: true })) || [];
      // covers every message with a UID ≥ min that existed when the mailbox was opened (UIDs
      // below its UIDNEXT then; UIDNEXT only grows) or that is asked about now
      const uidNext = Number(this.client.mailbox ? this.client.mailbox.uidNext : 0) || 0;
      this.large = { from: min, upTo: Math.max(max, uidNext - 1), uids: new Set(found) };
    }
    const out = new Map<number, number>();
    const large: number[] = [];
    for (const uid of uids) {
      if (this.large.uids.has(uid)) large.push(uid);
      else out.set(uid, SMALL_MESSAGE);
    }
    if (large.length > 0) {
      for (const uid of large) out.delete(uid);
      for await (const m of this.client.fetch(uidSet(large), { uid: true, size: true }, { uid: true })) out.set(m.uid, m.size ?? SMALL_MESSAGE);
    }
    return [...out].map(([uid, size]) => ({ uid, size })).sort((a, b) => a.uid - b.uid);
  }

  async fetchSources(uids: number[]): Promise<{ uid: number; source: Buffer }[]> {
    if (uids.length === 0) return [];
    const out: { uid: number; source: Buffer }[] = [];
    try {
      for await (const m of this.client.fetch(uidSet(uids), { uid: true, source: true }, { uid: true })) {
        if (m.source) out.push({ uid: m.uid, source: m.source });
      }
    } catch (err) {
      throw this.cause(err);
    }
    return out.sort((a, b) => a.uid - b.uid);
  }

  async streamSource(uid: number): Promise<AsyncIterable<Uint8Array> | null> {
    this.throwIfLost();
    let content: AsyncIterable<Uint8Array> | undefined;
    try {
      ({ content } = (await this.client.download(String(uid), undefined, { uid: true })) as { content?: AsyncIterable<Uint8Array> });
    } catch (err) {
      throw this.cause(err);
    }
    if (!content) return null;
    const source = content;
    const cause = (err: unknown) => this.cause(err);
    return (async function* () {
      try {
        yield* source;
      } catch (err) {
        throw cause(err);
      }
    })();
  }

  /** imapflow rejects what was in flight with "Connection not available" when it refused a
   *  literal over MAX_LITERAL_BYTES; the refusal itself (with the size) is the cause to report. */
  private cause(err: unknown): unknown {
    return literalTooLarge(this.lost) ? this.lost : err;
  }

  async waitForChange(ms: number, signal: AbortSignal): Promise<"changed" | "timeout" | "aborted"> {
    this.throwIfLost();
    if (this.changed) return "changed";
    if (signal.aborted) return "aborted";
    if (this.client.capabilities.has("IDLE") && !this.idling) {
      // IDLE runs until the next command; imapflow ends it (DONE) by itself then
      this.idling = this.client.idle().catch(() => {}).finally(() => (this.idling = null));
    }
    return await new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.listeners.delete(check);
      };
      const check = () => {
        if (this.lost) {
          done();
          reject(this.lost);
        } else if (this.changed) {
          done();
          resolve("changed");
        }
      };
      const onAbort = () => {
        done();
        resolve("aborted");
      };
      const timer = setTimeout(() => {
        done();
        resolve("timeout");
      }, ms);
      signal.addEventListener("abort", onAbort);
      this.listeners.add(check);
    });
  }

  async close(): Promise<void> {
    try {
      if (!this.lost) await this.client.logout();
    } catch {
      // closing anyway
    }
    this.client.close();
  }

  private signal(update: () => void): void {
    update();
    for (const listener of [...this.listeners]) listener();
  }

  private throwIfLost(): void {
    if (this.lost) throw this.lost;
  }
}

/** "1:5,7,9:10" — a compact UID set for a sorted list. */
export function uidSet(uids: number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** imapflow logger → one readable line per entry: "C: …" / "S: …" for the conversation. */
function debugLogger(write: (line: string) => void) {
  const emit = (level: string) => (entry: unknown) => {
    const e = (entry ?? {}) as { src?: string; msg?: string; err?: { message?: string } };
    if (e.src === "s" || e.src === "c") {
      write(`${e.src === "s" ? "S" : "C"}: ${e.msg ?? ""}`);
    } else {
      write(`[imap ${level}] ${e.msg ?? JSON.stringify(entry)}${e.err?.message ? ` (${e.err.message})` : ""}`);
    }
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
