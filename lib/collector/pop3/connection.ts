// One POP3 connection: a socket (plain, implicit TLS, or upgraded by STLS), the response
// decoder, and the queue of commands in flight. Commands are written at once when the server
// announced PIPELINING (RFC 2449), otherwise one after the other; responses are matched to
// commands in order. A body is either collected whole or handed out as a stream that pauses the
// socket while more than HIGH_WATER bytes wait to be read, so a large RETR is never held whole.
import net from "node:net";
import tls from "node:tls";
import type { TlsOptions } from "../../shared/tls";
import { Pop3Decoder, type Expectation, type Pop3Event } from "./framing";

/** What a POP3 failure looks like to the collector loop (lib/collector/loop.ts errorKind). */
export class Pop3Error extends Error {
  code?: string;
  /** the server's text after -ERR */
  responseText?: string;
  /** RFC 2449 response code, e.g. "AUTH", "IN-USE", "SYS/TEMP" */
  responseCode?: string;
  /** wrong login or password: retrying cannot help */
  authenticationFailed?: boolean;
  constructor(message: string, extra: Partial<Pick<Pop3Error, "code" | "responseText" | "responseCode" | "authenticationFailed">> = {}) {
    super(message);
    this.name = "Pop3Error";
    Object.assign(this, extra);
  }
}

const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const CHUNK = 64 * 1024;

interface Request {
  expect: Expectation;
  line: string;
  /** what the debug log shows instead of `line` (credentials) */
  shown: string;
  onStatus(ok: boolean, text: string): void;
  onData?(chunk: Uint8Array): void;
  onEnd?(): void;
  onContinue?(text: string): void;
  fail(err: Error): void;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  implicitTls: boolean;
  tls: TlsOptions;
  /** seconds of silence while a response is awaited before the connection counts as lost */
  timeoutMs: number;
  debug?: (line: string) => void;
}

export class Pop3Connection {
  pipelining = false;
  private socket: net.Socket;
  private readonly decoder: Pop3Decoder;
  private inflight: Request[] = [];
  private waiting: Request[] = [];
  private lost: Error | null = null;
  private lastActivity = Date.now();
  /** a stream's reader lags: the socket is paused, and silence is ours, not the server's */
  private paused = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  private constructor(socket: net.Socket, private readonly o: ConnectionOptions) {
    this.socket = socket;
    this.decoder = new Pop3Decoder((e) => this.dispatch(e));
    this.attach(socket);
  }

  /** Connects (TLS handshake included when implicit) and reads the greeting. */
  static async open(o: ConnectionOptions, greetingTimeoutMs: number): Promise<{ connection: Pop3Connection; greeting: string }> {
    const socket = o.implicitTls
      ? tls.connect({ host: o.host, port: o.port, ...o.tls })
      : net.connect({ host: o.host, port: o.port });
    await new Promise<void>((resolve, reject) => {
      socket.once(o.implicitTls ? "secureConnect" : "connect", () => (socket.off("error", reject), resolve()));
      socket.once("error", reject);
    });
    const connection = new Pop3Connection(socket, o);
    const greeting = new Promise<string>((resolve, reject) => connection.enqueue(greetingRequest(resolve, reject)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Pop3Error(`no POP3 greeting from ${o.host}:${o.port} within ${greetingTimeoutMs / 1000} s`, { code: "GREETING_TIMEOUT" });
        connection.destroy(err);
        reject(err);
      }, greetingTimeoutMs);
    });
    try {
      return { connection, greeting: await Promise.race([greeting, timeout]) };
    } finally {
      clearTimeout(timer);
    }
  }

  get secure(): boolean {
    return this.socket instanceof tls.TLSSocket && this.socket.encrypted === true;
  }

  /** Upgrades the connection after the server's +OK to STLS (RFC 2595). */
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.off("data", this.onData);
    const secure = tls.connect({ socket: raw, ...this.o.tls });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => (secure.off("error", reject), resolve()));
      secure.once("error", reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** A command answered by one status line; resolves to the +OK text, rejects on -ERR. */
  simple(line: string, shown = line): Promise<string> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        expect: "single", line, shown, fail: reject,
        onStatus: (ok, text) => (ok ? resolve(text) : reject(errResponse(shown, text))),
      });
    });
  }

  /** A command with a multi-line answer, collected whole; -ERR rejects. */
  multi(line: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      this.enqueue({
        expect: "multi", line, shown: line, fail: reject,
        onStatus: (ok, text) => void (ok || reject(errResponse(line, text))),
        onData: (chunk) => void chunks.push(Buffer.from(chunk)),
        onEnd: () => resolve(Buffer.concat(chunks)),
      });
    });
  }

  /** A multi-line answer as a stream; resolves once the status line is in: null on -ERR (with
   *  its error), else the body. The socket pauses while the reader lags behind. */
  stream(line: string): Promise<{ body: AsyncIterable<Uint8Array> } | { error: Pop3Error }> {
    return new Promise((resolve, reject) => {
      const body = new BodyQueue(
        () => ((this.paused = true), this.socket.pause()),
        () => ((this.paused = false), (this.lastActivity = Date.now()), this.socket.resume()),
      );
      this.enqueue({
        expect: "multi", line, shown: line,
        fail: (err) => (body.fail(err), reject(err)),
        onStatus: (ok, text) => resolve(ok ? { body } : { error: errResponse(line, text) }),
        onData: (chunk) => body.push(chunk),
        onEnd: () => body.end(),
      });
    });
  }

  /** A SASL exchange (RFC 5034): `answer` replies to each "+ " challenge. */
  sasl(line: string, shown: string, answer: (challenge: string) => string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        expect: "sasl", line, shown, fail: reject,
        onStatus: (ok, text) => (ok ? resolve(text) : reject(errResponse(shown, text))),
        onContinue: (challenge) => this.write(`${answer(challenge)}\r\n`, "(SASL response)"),
      });
    });
  }

  destroy(err?: Error): void {
    this.failAll(err ?? new Pop3Error("the POP3 connection was closed", { code: "ECONNRESET" }));
    this.socket.destroy();
  }

  /** Ends the TCP connection politely (FIN after what is written). */
  end(): void {
    this.failAll(new Pop3Error("the POP3 connection was closed", { code: "ECONNRESET" }));
    this.socket.end();
  }

  private attach(socket: net.Socket): void {
    socket.on("data", this.onData);
    socket.on("error", (err) => this.failAll(err));
    socket.on("close", () => this.failAll(new Pop3Error("the POP3 server closed the connection", { code: "ECONNRESET" })));
  }

  private receive(chunk: Buffer): void {
    this.lastActivity = Date.now();
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  private dispatch(e: Pop3Event): void {
    const head = this.inflight[0];
    if (!head) return;
    if (e.kind === "status") {
      this.o.debug?.(`S: ${e.ok ? "+OK" : "-ERR"}${e.text ? ` ${e.text}` : ""}`);
      head.onStatus(e.ok, e.text);
      if (!(e.ok && head.expect === "multi")) this.done();
    } else if (e.kind === "continue") {
      this.o.debug?.(`S: + ${e.text}`);
      head.onContinue?.(e.text);
    } else if (e.kind === "data") {
      head.onData?.(e.chunk);
    } else {
      head.onEnd?.();
      this.done();
    }
  }

  private done(): void {
    this.inflight.shift();
    if (!this.pipelining && this.inflight.length === 0) this.sendNext();
    if (this.inflight.length === 0 && this.timer) (clearTimeout(this.timer), (this.timer = null));
  }

  private enqueue(r: Request): void {
    if (this.lost) return r.fail(this.lost);
    this.waiting.push(r);
    if (this.pipelining || this.inflight.length === 0) this.sendNext();
  }

  private sendNext(): void {
    while (this.waiting.length > 0 && (this.pipelining || this.inflight.length === 0)) {
      const r = this.waiting.shift()!;
      this.inflight.push(r);
      this.decoder.expect(r.expect);
      if (r.line) this.write(`${r.line}\r\n`, r.shown);
      this.armTimer();
    }
  }

  private write(data: string, shown: string): void {
    this.o.debug?.(`C: ${shown}`);
    this.socket.write(data);
  }

  private armTimer(): void {
    if (this.timer) return;
    this.lastActivity = Date.now();
    const check = () => {
      this.timer = null;
      if (this.inflight.length === 0) return;
      const idle = this.paused ? 0 : Date.now() - this.lastActivity;
      if (idle >= this.o.timeoutMs) {
        return this.destroy(new Pop3Error(`the POP3 server ${this.o.host}:${this.o.port} did not answer within ${this.o.timeoutMs / 1000} s`, { code: "ETIMEDOUT" }));
      }
      this.timer = setTimeout(check, this.o.timeoutMs - idle);
    };
    this.timer = setTimeout(check, this.o.timeoutMs);
  }

  private failAll(err: Error): void {
    this.lost ??= err;
    if (this.timer) (clearTimeout(this.timer), (this.timer = null));
    const all = [...this.inflight, ...this.waiting];
    this.inflight = [];
    this.waiting = [];
    for (const r of all) r.fail(this.lost);
  }
}

function greetingRequest(resolve: (text: string) => void, reject: (err: Error) => void): Request {
  return {
    expect: "single", line: "", shown: "", fail: reject,
    onStatus: (ok, text) => (ok ? resolve(text) : reject(new Pop3Error(`the POP3 server refused the connection: ${text}`, { responseText: text }))),
  };
}

/** -ERR [CODE] text → a Pop3Error carrying both. */
export function errResponse(command: string, text: string): Pop3Error {
  const m = /^\[([^\]]+)\]\s*/.exec(text);
  const verb = command.split(" ")[0];
  return new Pop3Error(`${verb}: ${text}`, { responseText: text, responseCode: m?.[1]?.toUpperCase() });
}

/** Body chunks between the socket (push) and one reader; pauses the source above HIGH_WATER. */
class BodyQueue implements AsyncIterable<Uint8Array> {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private finished = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  private paused = false;
  private abandoned = false;

  constructor(private readonly pause: () => void, private readonly resume: () => void) {}

  push(chunk: Uint8Array): void {
    if (this.abandoned) return;
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    if (this.bytes > HIGH_WATER && !this.paused) (this.paused = true), this.pause();
    this.notify();
  }
  end(): void {
    this.finished = true;
    this.notify();
  }
  fail(err: Error): void {
    this.error ??= err;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Up to `max` bytes from the front of the queue, as one piece. */
  private take(max: number): Uint8Array | undefined {
    const first = this.chunks[0];
    if (!first) return undefined;
    if (first.length >= max) {
      if (first.length === max) return this.chunks.shift();
      this.chunks[0] = first.subarray(max);
      return first.subarray(0, max);
    }
    const out = Buffer.allocUnsafe(Math.min(max, this.bytes));
    let at = 0;
    while (at < out.length) {
      const c = this.chunks[0]!;
      const n = Math.min(c.length, out.length - at);
      out.set(c.subarray(0, n), at);
      at += n;
      if (n === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(n);
    }
    return out;
  }

  private unpause(): void {
    if (this.paused) (this.paused = false), this.resume();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        for (;;) {
          // pieces of CHUNK bytes (the last one excepted), as imapflow hands out: measured here,
          // a 43 MB message streamed into the parse pool peaked at 145–196 MB RSS in the ~16 KB
          // pieces TLS delivers (or in whatever had piled up), at 107–112 MB in 64 KB pieces
          // (imapflow's download of the same message: 111–114 MB)
          if (this.bytes < CHUNK && !this.finished && !this.error) {
            await new Promise<void>((resolve) => (this.wake = resolve));
            continue;
          }
          const chunk = this.take(CHUNK);
          if (chunk) {
            this.bytes -= chunk.length;
            if (this.bytes < LOW_WATER) this.unpause();
            return { done: false, value: chunk };
          }
          if (this.error && !this.finished) throw this.error;
          if (this.finished) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      },
      // a reader that stops early: the rest of the body is read and dropped, keeping the
      // connection in step for the next command
      return: async () => {
        this.abandoned = true;
        this.chunks = [];
        this.bytes = 0;
        this.unpause();
        return { done: true, value: undefined };
      },
    };
  }
}
