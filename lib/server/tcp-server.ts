// The TCP side of the server: Bun.listen, newline framing, replies in request order, write
// backpressure, idle timeout, connection limit, half-close, graceful stop. It knows nothing
// about tickets: each complete line goes to `handle`, whose reply is written back in order.
import type { Socket, TCPSocketListener } from "bun";
import { LineAssembler } from "../wire/framing";
import { encodeReply, errorReply, type Reply } from "../wire/protocol";

export interface Peer {
  ip: string;
  /** "ip:port", for logs */
  label: string;
}

export interface TcpServerOptions {
  host: string;
  port: number;
  maxRequestBytes: number;
  idleTimeoutSec: number;
  maxConnections: number;
  /** Handles one request line; must not throw (the server answers INTERNAL if it does). */
  handle: (line: string, peer: Peer) => Promise<Reply>;
  /** Replies made here, without `handle`: TOO_LARGE, BUSY, undecodable UTF-8 — for the request log. */
  onLocalReply?: (peer: Peer, reply: Reply) => void;
  /** How often idle connections are looked for; default: a quarter of the idle timeout, 50 ms–1 s. */
  sweepMs?: number;
  /** Requests in flight on one connection before reading from it pauses (pipelining clients). */
  maxInFlightPerConnection?: number;
}

interface Conn {
  peer: Peer;
  assembler: LineAssembler;
  /** resolves when every reply queued so far has been handed to the socket */
  tail: Promise<void>;
  inFlight: number;
  out: Uint8Array[];
  outBytes: number;
  lastActivity: number;
  peerEnded: boolean;
  /** no more requests are read; the socket is ended once every reply is written */
  closing: boolean;
  closed: boolean;
  /** when our side was ended (FIN sent); the socket is cut if the peer lingers */
  endedAt: number;
  paused: boolean;
  /** counted against MAX_CONNECTIONS (a BUSY connection is not) */
  counted: boolean;
}

type Sock = Socket<Conn>;
// pause()/resume() exist on Bun's sockets at runtime but are missing from bun-types 1.4.
type Pausable = { pause?: () => void; resume?: () => void };

const OUT_HIGH_WATER = 1 << 20;
const ENDED_LINGER_MS = 2000;
const encoder = new TextEncoder();

export class TcpServer {
  private listener: TCPSocketListener<Conn> | null = null;
  private readonly sockets = new Set<Sock>();
  private active = 0;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private stopping = false;
  private readonly maxInFlight: number;

  constructor(private readonly o: TcpServerOptions) {
    this.maxInFlight = o.maxInFlightPerConnection ?? 64;
  }

  get port(): number {
    return this.listener?.port ?? this.o.port;
  }

  /** Open connections counted against MAX_CONNECTIONS. */
  get connections(): number {
    return this.active;
  }

  /** Binds; throws a readable error when the address is taken or not available. */
  start(): void {
    const self = this;
    this.listener = Bun.listen<Conn>({
      hostname: this.o.host,
      port: this.o.port,
      // Without it, Bun closes the socket on the client's FIN and `nc -N` loses its reply.
      allowHalfOpen: true,
      // Without it, a second server could bind the same port next to the first one.
      exclusive: true,
      socket: {
        open(socket) {
          self.onOpen(socket);
        },
        data(socket, chunk) {
          self.onData(socket, chunk);
        },
        drain(socket) {
          self.flush(socket);
        },
        end(socket) {
          self.onEnd(socket);
        },
        close(socket) {
          self.onClose(socket);
        },
        error(socket) {
          // ECONNRESET and the like: the peer is gone, nothing to answer.
          self.onClose(socket);
        },
      },
    });
    const idleMs = this.o.idleTimeoutSec * 1000;
    const sweepMs = this.o.sweepMs ?? Math.min(1000, Math.max(50, Math.floor(idleMs / 4)));
    this.sweeper = setInterval(() => this.sweepIdle(), sweepMs);
  }

  private onOpen(socket: Sock): void {
    const peer: Peer = { ip: socket.remoteAddress, label: `${socket.remoteAddress}:${socket.remotePort}` };
    const conn: Conn = {
      peer,
      assembler: new LineAssembler(this.o.maxRequestBytes),
      tail: Promise.resolve(),
      inFlight: 0,
      out: [],
      outBytes: 0,
      lastActivity: Date.now(),
      peerEnded: false,
      closing: false,
      closed: false,
      endedAt: 0,
      paused: false,
      counted: false,
    };
    socket.data = conn;
    this.sockets.add(socket);
    if (this.stopping || this.active >= this.o.maxConnections) {
      const reply = this.stopping
        ? errorReply("BUSY", "the server is shutting down — try again in a moment")
        : errorReply("BUSY", `the server is at its connection limit (MAX_CONNECTIONS=${this.o.maxConnections}) — try again in a moment`);
      this.o.onLocalReply?.(peer, reply);
      conn.closing = true;
      this.write(socket, encodeReply(reply));
      this.maybeEnd(socket);
      return;
    }
    conn.counted = true;
    this.active++;
  }

  private onData(socket: Sock, chunk: Uint8Array): void {
    const conn = socket.data;
    if (!conn || conn.closing) return;
    conn.lastActivity = Date.now();
    for (const frame of conn.assembler.push(chunk)) this.onFrame(socket, frame);
  }

  private onFrame(socket: Sock, frame: ReturnType<LineAssembler["push"]>[number]): void {
    const conn = socket.data;
    if (frame.kind === "overflow") {
      const reply = errorReply(
        "TOO_LARGE",
        `the request line is longer than MAX_REQUEST_BYTES=${this.o.maxRequestBytes} bytes — shorten the message; the connection is closed`,
      );
      this.o.onLocalReply?.(conn.peer, reply);
      this.enqueue(socket, Promise.resolve(reply));
      conn.closing = true;
      this.maybeEnd(socket);
      return;
    }
    if (frame.kind === "invalid-utf8") {
      const reply = errorReply("BAD_REQUEST", "the request is not valid UTF-8 — send JSON text encoded as UTF-8");
      this.o.onLocalReply?.(conn.peer, reply);
      this.enqueue(socket, Promise.resolve(reply));
      return;
    }
    if (frame.text.trim() === "") return; // blank lines are ignored
    let pending: Promise<Reply>;
    try {
      pending = this.o.handle(frame.text, conn.peer).catch(() => errorReply("INTERNAL", "the server hit an internal error — try again"));
    } catch {
      pending = Promise.resolve(errorReply("INTERNAL", "the server hit an internal error — try again"));
    }
    this.enqueue(socket, pending);
  }

  /** Queues a reply behind the ones before it on this connection. */
  private enqueue(socket: Sock, reply: Promise<Reply>): void {
    const conn = socket.data;
    conn.inFlight++;
    if (conn.inFlight >= this.maxInFlight) this.pause(socket);
    conn.tail = conn.tail
      .then(() => reply)
      .then((r) => {
        conn.inFlight--;
        conn.lastActivity = Date.now();
        if (!conn.closed) this.write(socket, encodeReply(r));
        if (conn.inFlight < this.maxInFlight / 2 && conn.outBytes < OUT_HIGH_WATER) this.resume(socket);
        this.maybeEnd(socket);
      });
  }

  private write(socket: Sock, text: string): void {
    const conn = socket.data;
    const bytes = encoder.encode(text);
    if (conn.out.length === 0) {
      const n = socket.write(bytes);
      if (n === bytes.length) return;
      conn.out.push(bytes.subarray(Math.max(n, 0)));
      conn.outBytes += bytes.length - Math.max(n, 0);
    } else {
      conn.out.push(bytes);
      conn.outBytes += bytes.length;
    }
    if (conn.outBytes >= OUT_HIGH_WATER) this.pause(socket);
  }

  /** Writes what the socket accepts now; the rest waits for the next drain. */
  private flush(socket: Sock): void {
    const conn = socket.data;
    if (!conn) return;
    while (conn.out.length) {
      const head = conn.out[0]!;
      const n = socket.write(head);
      if (n <= 0) break;
      conn.outBytes -= n;
      if (n < head.length) {
        conn.out[0] = head.subarray(n);
        break;
      }
      conn.out.shift();
    }
    if (conn.out.length === 0 && conn.inFlight < this.maxInFlight / 2) this.resume(socket);
    this.maybeEnd(socket);
  }

  private pause(socket: Sock): void {
    const conn = socket.data;
    if (conn.paused) return;
    conn.paused = true;
    (socket as unknown as Pausable).pause?.();
  }

  private resume(socket: Sock): void {
    const conn = socket.data;
    if (!conn.paused || conn.closing) return;
    conn.paused = false;
    (socket as unknown as Pausable).resume?.();
  }

  private onEnd(socket: Sock): void {
    const conn = socket.data;
    if (!conn) return;
    conn.peerEnded = true;
    // A last request without its "\n" still counts (`printf '{…}' | nc -N`).
    if (!conn.closing) for (const frame of conn.assembler.finish()) this.onFrame(socket, frame);
    conn.closing = true;
    this.maybeEnd(socket);
  }

  /**
   * Ends our side once the connection is closing and every reply has been written. The
   * socket stays open for reading until the peer closes (input is discarded), so unread
   * input never turns our FIN into a reset that would destroy the last reply.
   */
  private maybeEnd(socket: Sock): void {
    const conn = socket.data;
    if (conn.closed || conn.endedAt || !conn.closing || conn.inFlight > 0 || conn.out.length > 0) return;
    conn.endedAt = Date.now();
    // shutdown(): FIN only. end() closes the descriptor, and closing with unread input makes
    // the kernel send a reset, which can destroy the reply before the client reads it.
    socket.shutdown();
  }

  private onClose(socket: Sock): void {
    const conn = socket.data;
    if (!conn) return;
    conn.closed = true;
    conn.closing = true;
    this.release(socket);
  }

  private release(socket: Sock): void {
    if (!this.sockets.delete(socket)) return;
    if (socket.data.counted) this.active--;
    this.idleWaiters();
  }

  private sweepIdle(): void {
    const now = Date.now();
    const limit = this.o.idleTimeoutSec * 1000;
    for (const socket of this.sockets) {
      const conn = socket.data;
      if (conn.endedAt) {
        // Our side is done; a peer that neither closes nor stops sending is cut off.
        if (now - conn.endedAt >= ENDED_LINGER_MS) this.cut(socket);
        continue;
      }
      // A connection waiting for its reply is not idle: the server is the slow one.
      if (conn.inFlight > 0 || now - conn.lastActivity < limit) continue;
      conn.closing = true;
      // With replies unread, the client stopped reading: there is no point in waiting for it.
      if (conn.out.length > 0) this.cut(socket);
      else this.maybeEnd(socket);
    }
  }

  private cut(socket: Sock): void {
    socket.data.closed = true;
    socket.terminate();
    this.release(socket);
  }

  private waiters: Array<() => void> = [];
  private idleWaiters(): void {
    if (this.sockets.size > 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Graceful stop: no new connections; requests already received are answered; then every
   * connection is closed. After `graceMs` the remaining ones are cut.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.listener?.stop(false);
    for (const socket of this.sockets) {
      socket.data.closing = true;
      this.maybeEnd(socket);
    }
    if (this.sockets.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    if (this.sweeper) clearInterval(this.sweeper);
    for (const socket of this.sockets) socket.terminate();
    this.sockets.clear();
    this.listener?.stop(true);
  }
}
