// A small POP3 client (RFC 1939, CAPA/PIPELINING RFC 2449, STLS RFC 2595, AUTH RFC 5034) with
// only what the collector needs: log in, UIDL, LIST, RETR (whole or streamed), QUIT. It never
// sends DELE. Not a package from npm: node-pop3 0.11, yapople 0.4 and poplib 0.1 (read for
// this) all take a body to end where one TCP read ends with CRLF.CRLF (wrong under arbitrary
// splits, NOTES: bun#13944), none removes dot-stuffing or pipelines, all buffer a whole RETR
// without backpressure; only poplib has STLS, and it decodes every byte as ASCII (8-bit mail
// mangled); yapople drags in mailparser 0.6.
import type { TlsOptions } from "../../shared/tls";
import { Pop3Connection, Pop3Error } from "./connection";

/** A SASL mechanism that logs in with one initial response (PLAIN, XOAUTH2, OAUTHBEARER). */
export interface SaslMechanism {
  name: string;
  /** the initial response, base64 */
  initialResponse(): string | Promise<string>;
}

export interface Pop3ClientOptions {
  host: string;
  port: number;
  /** TLS from the first byte (port 995) */
  implicitTls: boolean;
  /** on a plain connection: STLS required, or used when the server offers it */
  starttls: "required" | "when-offered";
  tls: TlsOptions;
  login: string;
  password: string;
  /** replaces USER/PASS and AUTH PLAIN (the hook for OAuth2 XOAUTH2) */
  sasl?: SaslMechanism;
  timeoutMs?: number;
  greetingTimeoutMs?: number;
  /** the conversation, one line each ("C: …" / "S: …"); credentials are never in it */
  debug?: (line: string) => void;
}

/** Response codes (RFC 2449/3206) that say "not now", not "wrong password". */
const TEMPORARY = new Set(["IN-USE", "LOGIN-DELAY", "SYS/TEMP"]);

export class Pop3Client {
  private constructor(private readonly c: Pop3Connection, readonly capabilities: Set<string>, private readonly saslMechanisms: Set<string>) {}

  static async connect(o: Pop3ClientOptions): Promise<Pop3Client> {
    const { connection: c } = await Pop3Connection.open(
      { host: o.host, port: o.port, implicitTls: o.implicitTls, tls: o.tls, timeoutMs: o.timeoutMs ?? 120_000, debug: o.debug },
      o.greetingTimeoutMs ?? 15_000,
    );
    try {
      let caps = await capabilities(c);
      if (!o.implicitTls && (o.starttls === "required" || caps.names.has("STLS"))) {
        if (!caps.names.has("STLS") && caps.known) throw noStls(o);
        await c.simple("STLS").catch((err: Pop3Error) => {
          throw o.starttls === "required" ? noStls(o, err) : err;
        });
        await c.startTls();
        caps = await capabilities(c); // RFC 2595: what was said before TLS no longer counts
      }
      const client = new Pop3Client(c, caps.names, caps.sasl);
      await client.authenticate(o);
      // RFC 2449: capabilities may differ once logged in
      const after = await capabilities(c);
      if (after.known) for (const name of after.names) client.capabilities.add(name);
      c.pipelining = client.capabilities.has("PIPELINING");
      return client;
    } catch (err) {
      c.destroy();
      throw err;
    }
  }

  get secure(): boolean {
    return this.c.secure;
  }

  /** Message number → unique id, for every message of this session; null when the server has no UIDL. */
  async uidl(): Promise<{ n: number; uid: string }[] | null> {
    let body: Buffer;
    try {
      body = await this.c.multi("UIDL");
    } catch (err) {
      if (err instanceof Pop3Error && err.responseText !== undefined) return null;
      throw err;
    }
    return lines(body).map((line) => {
      const m = /^(\d+) ([\x21-\x7e]{1,70})$/.exec(line);
      if (!m) throw new Pop3Error(`the POP3 server sent a malformed UIDL line: ${JSON.stringify(line.slice(0, 100))}`, { code: "EPROTOCOL" });
      return { n: Number(m[1]), uid: m[2]! };
    });
  }

  /** Message number → size in octets. */
  async list(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const line of lines(await this.c.multi("LIST"))) {
      const m = /^(\d+) (\d+)/.exec(line);
      if (!m) throw new Pop3Error(`the POP3 server sent a malformed LIST line: ${JSON.stringify(line.slice(0, 100))}`, { code: "EPROTOCOL" });
      out.set(Number(m[1]), Number(m[2]));
    }
    return out;
  }

  /** Whole sources (pipelined when the server allows); null for a message the server will not
   *  give (deleted meanwhile). A temporary refusal ([IN-USE], [SYS/TEMP]) throws. */
  async retrieve(numbers: number[]): Promise<(Buffer | null)[]> {
    return await Promise.all(numbers.map((n) => this.c.multi(`RETR ${n}`).catch(gone)));
  }

  /** One source as a stream of chunks; null when the server will not give it. */
  async retrieveStream(n: number): Promise<AsyncIterable<Uint8Array> | null> {
    const r = await this.c.stream(`RETR ${n}`);
    if ("error" in r) return gone(r.error);
    return r.body;
  }

  /** QUIT (RFC 1939 UPDATE state; nothing was marked for deletion), then close. */
  async quit(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // a server that does not answer QUIT must not hold up the wait for the next check
      await Promise.race([this.c.simple("QUIT"), new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    } finally {
      clearTimeout(timer);
      this.c.end();
    }
  }

  destroy(): void {
    this.c.destroy();
  }

  private async authenticate(o: Pop3ClientOptions): Promise<void> {
    try {
      if (o.sasl) {
        const initial = await o.sasl.initialResponse();
        // XOAUTH2 answers a bad token with a "+ <error>" challenge: an empty line ends it with -ERR
        await this.c.sasl(`AUTH ${o.sasl.name} ${initial}`, `AUTH ${o.sasl.name} ***`, () => "");
      } else if (this.saslMechanisms.has("PLAIN")) {
        const initial = Buffer.from(`\0${o.login}\0${o.password}`, "utf8").toString("base64");
        await this.c.sasl(`AUTH PLAIN ${initial}`, "AUTH PLAIN ***", () => "*");
      } else {
        await this.c.simple(`USER ${o.login}`);
        await this.c.simple(`PASS ${o.password}`, "PASS ***");
      }
    } catch (err) {
      if (err instanceof Pop3Error && err.responseText !== undefined && !TEMPORARY.has(err.responseCode ?? "")) {
        err.authenticationFailed = true;
        err.message = `authentication failed: ${err.responseText}`;
      }
      throw err;
    }
  }
}

async function capabilities(c: Pop3Connection): Promise<{ known: boolean; names: Set<string>; sasl: Set<string> }> {
  let body: Buffer;
  try {
    body = await c.multi("CAPA");
  } catch (err) {
    // a pre-RFC 2449 server: nothing is known, USER/PASS and UIDL are tried as they come
    if (err instanceof Pop3Error && err.responseText !== undefined) return { known: false, names: new Set(), sasl: new Set() };
    throw err;
  }
  const names = new Set<string>();
  const sasl = new Set<string>();
  for (const line of lines(body)) {
    const [name = "", ...args] = line.trim().split(/\s+/);
    names.add(name.toUpperCase());
    if (name.toUpperCase() === "SASL") for (const m of args) sasl.add(m.toUpperCase());
  }
  return { known: true, names, sasl };
}

function lines(body: Buffer): string[] {
  return body.toString("latin1").split(/\r?\n/).filter((l) => l !== "");
}

function gone(err: Pop3Error): null {
  if (TEMPORARY.has(err.responseCode ?? "") || err.responseText === undefined) throw err;
  return null;
}

function noStls(o: Pop3ClientOptions, cause?: Error): Pop3Error {
  const said = cause ? ` (it said: ${(cause as Pop3Error).responseText ?? cause.message})` : "";
  return new Pop3Error(`the POP3 server ${o.host}:${o.port} does not support STARTTLS (STLS)${said}`, { code: "ENOSTARTTLS" });
}
