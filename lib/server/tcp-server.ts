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
  /** Concurrent connections from one client address; 0 (or unset) = no per-address limit. */
  maxConnectionsPerIp?: number;
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
  /** counted connections per client address (MAX_CONNECTIONS_PER_IP) */
  private readonly perIp = new Map<string, number>();
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
      onClient: (conn) => this.admitClient(conn),
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
    // Behind a balancer (PROXY_PROTOCOL=on) the socket's address is the balancer's: the per-address
    // limit waits for the header that names the client (admitClient).
    const busy = this.busyReply() ?? (this.o.proxyProtocol ? null : this.perIpReply(conn.peer.ip));
    if (busy) return conn.refuse(busy);
    conn.counted = true;
    this.active++;
    if (!this.o.proxyProtocol) this.countIp(conn);
  }

  /** PROXY_PROTOCOL=on: the header named the client; MAX_CONNECTIONS_PER_IP applies to it now. */
  private admitClient(conn: Connection): Reply | null {
    if (!conn.counted) return null;
    const busy = this.perIpReply(conn.peer.ip);
    if (busy) return busy;
    this.countIp(conn);
    return null;
  }

  private countIp(conn: Connection): void {
    conn.countedIp = conn.peer.ip;
    this.perIp.set(conn.peer.ip, (this.perIp.get(conn.peer.ip) ?? 0) + 1);
  }

  /** Why a new connection is turned away, if it is. */
  private busyReply(): Reply | null {
    if (this.stopping) return errorReply("BUSY", "the server is shutting down — try again in a moment");
    if (this.active >= this.o.maxConnections) {
      return errorReply("BUSY", `the server is at its connection limit (MAX_CONNECTIONS=${this.o.maxConnections}) — try again in a moment`);
    }
    return null;
  }

  /** MAX_CONNECTIONS_PER_IP, for the client's address. */
  private perIpReply(ip: string): Reply | null {
    const perIp = this.o.maxConnectionsPerIp ?? 0;
    if (perIp > 0 && (this.perIp.get(ip) ?? 0) >= perIp) {
      return errorReply("BUSY", `too many connections from your address ${ip} (MAX_CONNECTIONS_PER_IP=${perIp}) — close one of them and try again`);
    }
    return null;
  }

  private release(conn: Connection): void {
    if (!this.conns.delete(conn)) return;
    if (conn.counted) this.active--;
    const ip = conn.countedIp;
    if (ip !== null) {
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.perIp.set(ip, left);
      else this.perIp.delete(ip);
    }
    if (this.conns.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  private sweepIdle(): void {
    const now = performance.now(); // monotonic: setting the clock back must not keep silent connections open
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
