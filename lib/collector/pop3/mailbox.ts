// The collector's Mailbox over POP3. A POP3 session sees the maildrop as it was at login (and
// may lock it), so every check is one session: open() logs in afresh (unless the session in
// hand is connect()'s, not listed yet), UIDL + LIST (pipelined when offered), the UID map turns UIDLs
// into the numeric UIDs the collector tracks; RETR for what it asks; the session ends before
// the wait for the next check. Nothing is ever deleted (no DELE), nothing depends on the
// server's idea of "read": POP3 has none the collector could use, so for a first run "unseen"
// means "arrived after this process first listed the mailbox", and --all takes everything.
import type { Endpoint } from "../../shared/config";
import { usesImplicitTls } from "../../shared/config";
import { MailerError } from "../../shared/errors";
import { tlsOptions } from "../../shared/tls";
import type { Mailbox, MailboxInfo, UidQuery } from "../imap-mailbox";
import { Pop3Client, type SaslMechanism } from "./client";
import type { UidMap } from "./uid-map";
import { sleepUnless } from "../../shared/sleep";

export interface Pop3Settings {
  endpoint: Endpoint;
  login: string;
  password: string;
  ca: string[] | undefined;
  uidMap: UidMap;
  /** shared by the mailboxes of one process (reconnects): the highest UID at its first listing */
  start?: { maxUid: number | null };
  sasl?: SaslMechanism;
  timeoutMs?: number;
  debug?: (line: string) => void;
}

export class Pop3Mailbox implements Mailbox {
  private session: Pop3Client | null = null;
  /** the session from connect(), not listed yet: the first open() uses it */
  private fresh = false;
  private messages = new Map<number, { n: number; size: number }>();

  private readonly start: { maxUid: number | null };

  private constructor(private readonly s: Pop3Settings) {
    this.start = s.start ?? { maxUid: null };
  }

  /** Logs in once, so that a wrong password or certificate shows at once (as for IMAP). */
  static async connect(settings: Pop3Settings): Promise<Pop3Mailbox> {
    const mailbox = new Pop3Mailbox(settings);
    mailbox.session = await mailbox.login();
    mailbox.fresh = true;
    return mailbox;
  }

  async open(): Promise<MailboxInfo> {
    // a session shows the maildrop as it was at login: each check needs a new one
    if (!this.session || !this.fresh) {
      await this.endSession();
      this.session = await this.login();
    }
    this.fresh = false;
    const session = this.session;
    const [listing, sizes] = await Promise.all([session.uidl(), session.list()]);
    const { host, port } = this.s.endpoint;
    if (!listing) {
      throw new MailerError(
        "config",
        `the POP3 server ${host}:${port} does not support UIDL (unique ids), so the collector cannot tell new mail from old without losing or duplicating messages — use IMAP (MAIL_PROTOCOL=imap) or a server with UIDL`,
      );
    }
    if (new Set(listing.map((l) => l.uid)).size !== listing.length) {
      throw new MailerError("config", `the POP3 server ${host}:${port} gave two messages the same unique id (UIDL), so they cannot be told apart — use IMAP (MAIL_PROTOCOL=imap) for this mailbox`);
    }
    const uids = await this.s.uidMap.assign(listing.map((l) => l.uid));
    this.messages = new Map();
    listing.forEach((l, i) => this.messages.set(uids[i]!, { n: l.n, size: sizes.get(l.n) ?? 0 }));
    this.start.maxUid ??= Math.max(0, ...uids);
    return { uidValidity: this.s.uidMap.uidValidity, exists: listing.length, idle: false, tls: session.secure };
  }

  async search(query: UidQuery): Promise<number[]> {
    const all = [...this.messages.keys()].sort((a, b) => a - b);
    // no read state in POP3: "unseen" is what came after the first listing (a first run's start)
    if ("unseen" in query) return all.filter((uid) => uid > (this.start.maxUid ?? Infinity));
    // which of these are still listed (the pipeline asks after a fetch that came back empty)
    if ("uids" in query) return all.filter((uid) => query.uids.includes(uid));
    return "above" in query ? all.filter((uid) => uid > query.above) : all;
  }

  /** LIST's exact sizes; messages not in this session's listing are left out. */
  async sizes(uids: number[]): Promise<{ uid: number; size: number }[]> {
    const out: { uid: number; size: number }[] = [];
    for (const uid of [...uids].sort((a, b) => a - b)) {
      const m = this.messages.get(uid);
      if (m) out.push({ uid, size: m.size });
    }
    return out;
  }

  async fetchSources(uids: number[]): Promise<{ uid: number; source: Buffer }[]> {
    const wanted = (await this.sizes(uids)).map((s) => s.uid);
    if (wanted.length === 0) return [];
    const session = this.active();
    const sources = await session.retrieve(wanted.map((uid) => this.messages.get(uid)!.n));
    const out: { uid: number; source: Buffer }[] = [];
    sources.forEach((source, i) => source && out.push({ uid: wanted[i]!, source }));
    return out;
  }

  async streamSource(uid: number): Promise<AsyncIterable<Uint8Array> | null> {
    const m = this.messages.get(uid);
    if (!m) return null;
    const session = this.active();
    return await session.retrieveStream(m.n);
  }

  /** No IDLE in POP3: the session ends (a POP3 server may lock the maildrop while it lasts,
   *  and would not show new mail anyway), then the period passes. */
  async waitForChange(ms: number, signal: AbortSignal): Promise<"changed" | "timeout" | "aborted"> {
    await this.endSession();
    return await sleepUnless(ms, signal);
  }

  async close(): Promise<void> {
    await this.endSession();
  }

  private login(): Promise<Pop3Client> {
    const { endpoint } = this.s;
    const implicitTls = usesImplicitTls(endpoint, 995);
    return Pop3Client.connect({
      host: endpoint.host,
      port: endpoint.port,
      implicitTls,
      starttls: endpoint.security === "starttls" ? "required" : "when-offered",
      tls: tlsOptions(endpoint.host, this.s.ca),
      login: this.s.login,
      password: this.s.password,
      sasl: this.s.sasl,
      timeoutMs: this.s.timeoutMs,
      debug: this.s.debug,
    });
  }

  private active(): Pop3Client {
    if (!this.session) throw new Error("the POP3 session has ended: open() first");
    return this.session;
  }

  /** QUIT: nothing was marked for deletion, so the UPDATE state changes nothing. (A server that
   *  also speaks IMAP may mark what RETR gave as \Seen — Dovecot does, with or without QUIT,
   *  unless pop3_no_flag_updates = yes; RETR is the only whole-message read POP3 has.) */
  private async endSession(): Promise<void> {
    const session = this.session;
    this.session = null;
    await session?.quit().catch(() => {});
  }
}
