// A real SMTP server (smtp-server) on loopback for tests: records every accepted message
// (envelope + raw + parsed), and can refuse chosen recipients, require a login, or speak TLS.
import * as mailparser from "mailparser";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

// The fields of mailparser's simpleParser result the tests read (mailparser ships no types).
export interface ParsedMail {
  subject?: string;
  text?: string;
  messageId?: string;
  from?: { text: string; value: { address?: string }[] };
  to?: { text: string; value: { address?: string }[] };
  replyTo?: { text: string; value: { address?: string }[] };
  headers: Map<string, unknown>;
}
const simpleParser = (mailparser as unknown as { simpleParser: (raw: Buffer) => Promise<ParsedMail> }).simpleParser;

export interface SinkMessage {
  from: string;
  to: string[];
  raw: Buffer;
  parsed: ParsedMail;
}

export interface SinkOptions {
  port?: number;
  /** recipients refused at RCPT TO: true = "550 5.1.1 … User unknown", a number = that reply code */
  refuse?: (recipient: string) => boolean | number;
  /** when set, AUTH is required with exactly these credentials */
  auth?: { user: string; pass: string };
  /** TLS: key + cert; implicit = secure port, else STARTTLS offered */
  tls?: { key: string; cert: string; implicit?: boolean };
  /** delay before answering each DATA, ms (a number, or per first recipient) */
  delayMs?: number | ((recipient: string) => number);
  /** holds the answer to DATA until the promise resolves (per first recipient; undefined = no hold):
   *  a test releases it when it is ready, instead of racing a delay */
  hold?: (recipient: string) => Promise<void> | undefined;
}

export interface SmtpSink {
  port: number;
  messages: SinkMessage[];
  authFailures: number;
  /** messages received whose answer is being held back (delayMs) right now */
  delaying: number;
  waitFor(count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

export async function startSmtpSink(opts: SinkOptions = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  const state = { authFailures: 0, delaying: 0 };
  const options: SMTPServerOptions = {
    logger: false,
    // close() waits for connected clients (e.g. a pooled connection) at most this long.
    closeTimeout: 200,
    // Without TLS material, STARTTLS is switched off completely (smtp-server would otherwise
    // still accept it, with a built-in certificate that has expired).
    disabledCommands: [...(opts.auth ? [] : ["AUTH"]), ...(opts.tls ? [] : ["STARTTLS"])],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    size: 10 * 1024 * 1024,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert, secure: Boolean(opts.tls.implicit) } : {}),
    onAuth(auth, _session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username });
      state.authFailures++;
      const err = new Error("5.7.8 Authentication credentials invalid") as Error & { responseCode: number };
      err.responseCode = 535;
      cb(err);
    },
    onRcptTo(address, _session, cb) {
      const refused = opts.refuse?.(address.address);
      if (refused) {
        const code = refused === true ? 550 : refused;
        const text = code >= 500 ? `5.1.1 <${address.address}>: Recipient address rejected: User unknown` : `4.2.0 <${address.address}>: Mailbox busy, try again later`;
        const err = new Error(text) as Error & { responseCode: number };
        err.responseCode = code;
        return cb(err);
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", async () => {
        const raw = Buffer.concat(chunks);
        const parsed = await simpleParser(raw);
        const record = () => {
          messages.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            parsed,
          });
          cb(null);
        };
        const first = session.envelope.rcptTo[0]?.address ?? "";
        const held = opts.hold?.(first);
        const delay = typeof opts.delayMs === "function" ? opts.delayMs(first) : opts.delayMs;
        if (held) {
          state.delaying++;
          void held.then(() => (state.delaying--, record()));
        } else if (delay) {
          state.delaying++;
          setTimeout(() => (state.delaying--, record()), delay);
        } else record();
      });
    },
  };
  const server = new SMTPServer(options);
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    messages,
    get authFailures() {
      return state.authFailures;
    },
    get delaying() {
      return state.delaying;
    },
    async waitFor(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages at the SMTP sink, got ${messages.length}`);
        await Bun.sleep(10);
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
