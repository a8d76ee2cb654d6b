// The sandbox's SMTP side: a real SMTP server (smtp-server) on loopback that accepts only the
// configured login. Mail for the admin goes into the admin's IMAP inbox (raw, untouched, so the
// collector sees exactly what a real mail stack would hand it); mail for anyone else is shown
// as one readable line, since there is nowhere real to deliver it.
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import { parseMail } from "../shared/mail-text";

export interface SandboxSmtpOptions {
  host?: string;
  /** 0 picks a free port */
  port: number;
  login: string;
  password: string;
  adminEmail: string;
  /** Appends the raw message to the admin's inbox; a rejection makes the sender retry later (451). */
  deliverToAdmin(raw: Buffer): Promise<unknown>;
  /** One line per message for recipients other than the admin, e.g. `mail to a@b: "Subject" — first line`. */
  onOtherMail(line: string): void;
  /** One line per message delivered to the admin's inbox (optional, for the dev console). */
  onAdminMail?(line: string): void;
  /** Every accepted message, raw, with its envelope (the web inbox keeps them); the message's
   *  lines wait for the promise it returns, so a line printed is a message caught. */
  onMessage?(raw: Buffer, envelope: { mailFrom: string; rcptTo: string[] }): void | Promise<unknown>;
  /** Largest message accepted, bytes (default 25 MiB, what common providers accept). */
  sizeLimit?: number;
}

export interface SandboxSmtp {
  port: number;
  close(): Promise<void>;
}

/** A listen failure that names the port, so callers can say which configuration key to change. */
export class PortInUseError extends Error {
  constructor(readonly host: string, readonly port: number, readonly code: string) {
    super(code === "EADDRINUSE" ? `${host}:${port} is already in use` : `cannot listen on ${host}:${port} (${code})`);
  }
}

const DEFAULT_SIZE_LIMIT = 25 * 1024 * 1024;
const LINE_TEXT_MAX = 120;

export async function startSandboxSmtp(opts: SandboxSmtpOptions): Promise<SandboxSmtp> {
  const host = opts.host ?? "127.0.0.1";
  const sizeLimit = opts.sizeLimit ?? DEFAULT_SIZE_LIMIT;

  const server = new SMTPServer({
    name: "mailer-sandbox",
    banner: "Mailer sandbox (loopback only, nothing leaves this machine)",
    // Plain loopback: no STARTTLS, so AUTH over cleartext must be allowed explicitly.
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: false,
    size: sizeLimit,
    rejectOversized: true,
    disableReverseLookup: true,
    logger: false,
    // close() should not wait 30 s for pooled client connections that stay open.
    closeTimeout: 300,
    onAuth(auth, _session, callback) {
      const ok = (auth.method === "PLAIN" || auth.method === "LOGIN") &&
        auth.username === opts.login && auth.password === opts.password;
      if (ok) return callback(null, { user: auth.username });
      callback(Object.assign(new Error("Authentication failed: the sandbox accepts only EMAIL_LOGIN / EMAIL_PASSWORD from .env"), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      readAll(stream)
        .then((raw) => (stream.sizeExceeded ? undefined : handleMessage(opts, raw, session))) // oversized: rejectOversized answers 552
        .then(
          () => callback(),
          (err: unknown) => {
            // 451 = try again later: the server keeps the admin copy in its outbox and retries.
            const reason = err instanceof Error ? err.message : String(err);
            callback(Object.assign(new Error(`sandbox could not store the message: ${reason}`), { responseCode: 451 }));
          },
        );
    },
  });

  await listen(server, host, opts.port);
  // After start-up, a connection error must not crash the process hosting the sandbox.
  server.on("error", () => {});

  const address = server.server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  let closing: Promise<void> | null = null;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}

/** Admin mail into the admin's inbox, anyone else's shown as one line. */
async function handleMessage(opts: SandboxSmtpOptions, raw: Buffer, session: SMTPServerSession): Promise<void> {
  const admin = opts.adminEmail.toLowerCase();
  const recipients = session.envelope.rcptTo.map((r) => r.address);
  const mailFrom = session.envelope.mailFrom;
  const caught = opts.onMessage?.(raw, { mailFrom: mailFrom ? mailFrom.address : "", rcptTo: recipients });
  const others = recipients.filter((r) => r.toLowerCase() !== admin);
  const summary = others.length > 0 || opts.onAdminMail ? await summarize(raw) : "";
  // a line on screen means the message is in the web inbox already (its parse may take longer)
  await caught;
  if (others.length < recipients.length) {
    const uid = await opts.deliverToAdmin(raw);
    opts.onAdminMail?.(`mail to ${opts.adminEmail} → IMAP inbox${typeof uid === "number" ? ` (uid ${uid})` : ""}: ${summary}`);
  }
  if (others.length > 0) opts.onOtherMail(`mail to ${others.map(clean).join(", ")}: ${summary}`);
}

function listen(server: SMTPServer, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new PortInUseError(host, port, err.code ?? err.message));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => {
      // Past the limit the bytes are discarded; smtp-server answers 552 once the stream ends.
      if (!stream.sizeExceeded) chunks.push(chunk);
    });
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

/** `"Decoded subject" — first line of the text`, safe to print on one terminal line. */
export async function summarize(raw: Buffer): Promise<string> {
  try {
    const parsed = await parseMail(raw);
    const subject = parsed.subject ? `"${clean(parsed.subject)}"` : "(no subject)";
    const firstLine = parsed.text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "");
    return firstLine ? `${subject} — ${truncate(clean(firstLine), LINE_TEXT_MAX)}` : `${subject} (no text)`;
  } catch (err) {
    return `(unparseable message, ${raw.length} bytes: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Control characters (newlines, terminal escapes) from mail never reach the console. */
function clean(text: string): string {
  return text
    .replace(/\u001b\[[0-9;?]*[ -\/]*[@-~]/g, "") // whole ANSI escape sequences, not just the ESC
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length > max ? chars.slice(0, max).join("") + "…" : text;
}
