// The TCP listener of the server: Bun.listen, the connection limit, the idle sweep and the
// graceful stop. It knows nothing about tickets, nor about what happens on one connection
// (framing, reply order, backpressure: connection.ts); each complete line goes to `handle`.
import type { Socket, TCPSocketListener } from "bun";
import { Connection, type ConnectionOptions } from "./connection";
import { errorReply, type Reply } from "../wire/protocol";

export type { Peer } from "./connection";

export interface TcpServerOptions extends Pick<ConnectionOptions, "handle" | "onLocalReply"> {
  host: string;
  port: number;
  maxRequestBytes: number;
  idleTimeoutSec: number;
  maxConnections: number;
  /** How often idle connections are looked for; default: a quarter of the idle timeout, 50 ms–1 s. */
  sweepMs?: number;
  /** Requests in flight on one connection before reading from it pauses (pipelining clients). */
  maxInFlightPerConnection?: number;
  /** PROXY_PROTOCOL=on: each connection starts with a PROXY v2 header (haproxy send-proxy-v2) */
  proxyProtocol?: boolean;
}

type Sock = Socket<Connection>;

export class TcpServer {
  private listener: TCPSocketListener<Connection> | null = null;
  private readonly conns = new Set<Connection>();
  private active = 0;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private stopping = false;
  private waiters: Array<() => void> = [];
  private readonly connOptions: ConnectionOptions;

  constructor(private readonly o: TcpServerOptions) {
    this.connOptions = {
      maxRequestBytes: o.maxRequestBytes,
      maxInFlight: o.maxInFlightPerConnection ?? 64,
      handle: o.handle,
      onLocalReply: o.onLocalReply,
      onGone: (conn) => this.release(conn),
      proxyProtocol: o.proxyProtocol,
    };
  }

  get port(): number {
    return this.listener?.port ?? this.o.port;
  }

  /** Open connections counted against MAX_CONNECTIONS. */
  get connections(): number {
    return this.active;
  }

  /** Binds; throws (EADDRINUSE, EADDRNOTAVAIL, ...) when the address cannot be used. */
  start(): void {
    this.listener = Bun.listen<Connection>({
      hostname: this.o.host,
      port: this.o.port,
      // Without it, Bun closes the socket on the client's FIN and `nc -N` loses its reply.
      allowHalfOpen: true,
      // Without it, a second server could bind the same port next to the first one.
      exclusive: true,
      socket: {
        open: (socket) => this.accept(socket),
        data: (socket, chunk) => socket.data?.onData(chunk),
        drain: (socket) => socket.data?.onDrain(),
        end: (socket) => socket.data?.onEnd(),
        close: (socket) => socket.data?.onClose(),
        // ECONNRESET and the like: the peer is gone, nothing to answer.
        error: (socket) => socket.data?.onClose(),
      },
    });
    const idleMs = this.o.idleTimeoutSec * 1000;
    const sweepMs = this.o.sweepMs ?? Math.min(1000, Math.max(50, Math.floor(idleMs / 4)));
    this.sweeper = setInterval(() => this.sweepIdle(), sweepMs);
  }

  private accept(socket: Sock): void {
    const conn = new Connection(socket, this.connOptions);
    socket.data = conn;
    this.conns.add(conn);
    const busy = this.busyReply();
    if (busy) return conn.refuse(busy);
    conn.counted = true;
    this.active++;
  }

  /** Why a new connection is turned away, if it is. */
  private busyReply(): Reply | null {
    if (this.stopping) return errorReply("BUSY", "the server is shutting down — try again in a moment");
    if (this.active >= this.o.maxConnections) {
      return errorReply("BUSY", `the server is at its connection limit (MAX_CONNECTIONS=${this.o.maxConnections}) — try again in a moment`);
    }
    return null;
  }

  private release(conn: Connection): void {
    if (!this.conns.delete(conn)) return;
    if (conn.counted) this.active--;
    if (this.conns.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  private sweepIdle(): void {
    const now = Date.now();
    const idleMs = this.o.idleTimeoutSec * 1000;
    for (const conn of this.conns) conn.checkIdle(now, idleMs);
  }

  /**
   * Graceful stop: no new connections; requests already received are answered; then every
   * connection is closed. After `graceMs` the remaining ones are cut.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.listener?.stop(false);
    for (const conn of this.conns) conn.close();
    if (this.conns.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    if (this.sweeper) clearInterval(this.sweeper);
    for (const conn of this.conns) conn.cut();
    this.conns.clear();
    this.listener?.stop(true);
  }
}
