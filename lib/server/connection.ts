// One client connection of the TCP server: newline framing, replies written in request order,
// write backpressure (reading pauses while replies pile up), the idle timeout and the
// half-close that lets a last reply reach a client that already sent its FIN. The listener
// (tcp-server.ts) accepts, counts and stops connections; it knows nothing of what is below.
import type { Socket } from "bun";
import { LineAssembler, type Frame } from "../wire/framing";
import { encodeReply, errorReply, type Reply } from "../wire/protocol";
import { ProxyFront } from "./proxy-protocol";

export interface Peer {
  ip: string;
  /** "ip:port", for logs */
  label: string;
}

export interface ConnectionOptions {
  maxRequestBytes: number;
  /** Requests in flight before reading from the connection pauses (pipelining clients). */
  maxInFlight: number;
  /** Handles one request line; must not throw (the connection answers INTERNAL if it does). */
  handle: (line: string, peer: Peer) => Promise<Reply>;
  /** Replies made here, without `handle`: TOO_LARGE, BUSY, undecodable UTF-8 — for the request log. */
  onLocalReply?: (peer: Peer, reply: Reply) => void;
  /** The connection is closed or cut; called at least once. */
  onGone: (conn: Connection) => void;
  /** PROXY_PROTOCOL: true = a v2 header must come first (behind haproxy), false = one is refused */
  proxyProtocol?: boolean;
  /** PROXY_PROTOCOL=on: the header has named the client (conn.peer); a reply refuses the
   *  connection (MAX_CONNECTIONS_PER_IP is applied here, to the real client address) */
  onClient?: (conn: Connection) => Reply | null;
}

// pause()/resume() exist on Bun's sockets at runtime but are missing from bun-types 1.4.
type Pausable = { pause?: () => void; resume?: () => void };

const OUT_HIGH_WATER = 1 << 20;
const ENDED_LINGER_MS = 2000;
const encoder = new TextEncoder();
const internalError = () => errorReply("INTERNAL", "the server hit an internal error — try again");

export class Connection {
  /** the client: from the PROXY header when there is one (set before the first request) */
  peer: Peer;
  /** counted against MAX_CONNECTIONS (a BUSY connection is not) */
  counted = false;
  /** the address counted against MAX_CONNECTIONS_PER_IP, once known (after the PROXY header when on) */
  countedIp: string | null = null;
  private readonly assembler: LineAssembler;
  /** resolves when every reply queued so far has been handed to the socket */
  private tail: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private lastActivity = performance.now();
  /** no more requests are read; the socket is ended once every reply is written */
  private closing = false;
  private closed = false;
  /** when our side was ended (FIN sent); the socket is cut if the peer lingers */
  private endedAt = 0;
  private paused = false;
  /** until the start of the connection is decided (PROXY header or not) */
  private front: ProxyFront | null;

  constructor(private readonly socket: Socket<Connection>, private readonly o: ConnectionOptions) {
    this.peer = { ip: socket.remoteAddress, label: `${socket.remoteAddress}:${socket.remotePort}` };
    this.assembler = new LineAssembler(o.maxRequestBytes);
    this.front = new ProxyFront(o.proxyProtocol === true);
  }

  /** Answers once (BUSY) without reading anything, then closes. */
  refuse(reply: Reply): void {
    this.o.onLocalReply?.(this.peer, reply);
    this.closing = true;
    this.write(encodeReply(reply));
    this.maybeEnd();
  }

  onData(chunk: Uint8Array): void {
    if (this.closing) return;
    this.lastActivity = performance.now();
    const bytes = this.front ? this.throughFront(chunk) : chunk;
    if (bytes) for (const frame of this.assembler.push(bytes)) this.onFrame(frame);
  }

  /** The connection's first bytes: a PROXY header taken off (the real client becomes the peer),
   *  or refused; null while undecided or refused. */
  private throughFront(chunk: Uint8Array): Uint8Array | null {
    const r = this.front!.push(chunk);
    if (r.kind === "more") return null;
    if (r.kind === "refused") {
      const why = this.front!.required
        ? `this server takes connections through its load balancer only (PROXY_PROTOCOL=on): it got ${r.reason} — connect to the balancer's address`
        : `this server does not expect ${r.reason} (PROXY_PROTOCOL=off) — set PROXY_PROTOCOL=on on the server, or remove send-proxy-v2 from the balancer`;
      this.front = null;
      this.answerLocally(errorReply("BAD_REQUEST", why));
      this.closing = true;
      this.maybeEnd();
      return null;
    }
    this.front = null;
    if (r.source) this.peer = { ip: r.source.ip, label: `${r.source.ip}:${r.source.port}` };
    const busy = this.o.proxyProtocol ? this.o.onClient?.(this) : null;
    if (busy) {
      this.refuse(busy);
      return null;
    }
    return r.bytes;
  }

  private onFrame(frame: Frame): void {
    if (frame.kind === "overflow") {
      this.answerLocally(
        errorReply("TOO_LARGE", `the request line is longer than MAX_REQUEST_BYTES=${this.o.maxRequestBytes} bytes — shorten the message; the connection is closed`),
      );
      this.closing = true;
      this.maybeEnd();
      return;
    }
    if (frame.kind === "invalid-utf8") {
      this.answerLocally(errorReply("BAD_REQUEST", "the request is not valid UTF-8 — send JSON text encoded as UTF-8"));
      return;
    }
    if (frame.text.trim() === "") return; // blank lines are ignored
    let pending: Promise<Reply>;
    try {
      pending = this.o.handle(frame.text, this.peer).catch(internalError);
    } catch {
      pending = Promise.resolve(internalError());
    }
    this.enqueue(pending);
  }

  private answerLocally(reply: Reply): void {
    this.o.onLocalReply?.(this.peer, reply);
    this.enqueue(Promise.resolve(reply));
  }

  /** Queues a reply behind the ones before it on this connection. */
  private enqueue(reply: Promise<Reply>): void {
    this.inFlight++;
    if (this.inFlight >= this.o.maxInFlight) this.pause();
    this.tail = this.tail
      .then(() => reply)
      .then((r) => {
        this.inFlight--;
        this.lastActivity = performance.now();
        if (!this.closed) this.write(encodeReply(r));
        if (this.inFlight < this.o.maxInFlight / 2 && this.outBytes < OUT_HIGH_WATER) this.resume();
        this.maybeEnd();
      });
  }

  private write(text: string): void {
    const bytes = encoder.encode(text);
    if (this.out.length === 0) {
      const n = this.socket.write(bytes);
      if (n === bytes.length) return;
      this.out.push(bytes.subarray(Math.max(n, 0)));
      this.outBytes += bytes.length - Math.max(n, 0);
    } else {
      this.out.push(bytes);
      this.outBytes += bytes.length;
    }
    if (this.outBytes >= OUT_HIGH_WATER) this.pause();
  }

  /** The socket can take more: writes what it accepts now; the rest waits for the next drain. */
  onDrain(): void {
    while (this.out.length) {
      const head = this.out[0]!;
      const n = this.socket.write(head);
      if (n <= 0) break;
      this.outBytes -= n;
      if (n < head.length) {
        this.out[0] = head.subarray(n);
        break;
      }
      this.out.shift();
    }
    if (this.out.length === 0 && this.inFlight < this.o.maxInFlight / 2) this.resume();
    this.maybeEnd();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    (this.socket as unknown as Pausable).pause?.();
  }

  private resume(): void {
    if (!this.paused || this.closing) return;
    this.paused = false;
    (this.socket as unknown as Pausable).resume?.();
  }

  /** The peer sent its FIN. */
  onEnd(): void {
    // A last request without its "\n" still counts (`printf '{…}' | nc -N`).
    if (this.front && !this.closing) {
      // ended before the start was decided: a balancer's health check (nothing sent), or a
      // client whose few bytes could have begun a PROXY header
      const held = this.front.leftover();
      this.front = null;
      for (const frame of this.assembler.push(held)) this.onFrame(frame);
    }
    if (!this.closing) for (const frame of this.assembler.finish()) this.onFrame(frame);
    this.close();
  }

  /** Reads no more requests; ends the connection once every reply is written. */
  close(): void {
    this.closing = true;
    this.maybeEnd();
  }

  /**
   * Ends our side once the connection is closing and every reply has been written. The
   * socket stays open for reading until the peer closes (input is discarded), so unread
   * input never turns our FIN into a reset that would destroy the last reply.
   */
  private maybeEnd(): void {
    if (this.closed || this.endedAt || !this.closing || this.inFlight > 0 || this.out.length > 0) return;
    this.endedAt = performance.now();
    // shutdown(): FIN only. end() closes the descriptor, and closing with unread input makes
    // the kernel send a reset, which can destroy the reply before the client reads it.
    this.socket.shutdown();
  }

  /** The socket is closed (by the peer, an error such as ECONNRESET, or us). */
  onClose(): void {
    this.closed = true;
    this.closing = true;
    this.o.onGone(this);
  }

  /** Called now and then by the listener: ends an idle connection, cuts a lingering one. */
  checkIdle(now: number, idleMs: number): void {
    if (this.endedAt) {
      // Our side is done; a peer that neither closes nor stops sending is cut off.
      if (now - this.endedAt >= ENDED_LINGER_MS) this.cut();
      return;
    }
    // A connection waiting for its reply is not idle: the server is the slow one.
    if (this.inFlight > 0 || now - this.lastActivity < idleMs) return;
    this.closing = true;
    // With replies unread, the client stopped reading: there is no point in waiting for it.
    if (this.out.length > 0) this.cut();
    else this.maybeEnd();
  }

  /** Closes at once, replies unwritten or not. */
  cut(): void {
    this.closed = true;
    this.socket.terminate();
    this.o.onGone(this);
  }
}
