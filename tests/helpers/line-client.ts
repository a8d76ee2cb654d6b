// A raw TCP client for protocol tests (node:net, a different implementation from the
// Bun.connect the real client uses): write bytes in any pieces, half-close, read reply lines.
import net from "node:net";

export interface LineClient {
  socket: net.Socket;
  write(data: string | Uint8Array): Promise<void>;
  /** half-close: FIN after the data, reading goes on */
  end(): void;
  lines(): string[];
  waitLines(n: number, timeoutMs?: number): Promise<string[]>;
  /** resolves when the server has closed the connection (end or close), true if it did in time */
  waitClosed(timeoutMs?: number): Promise<boolean>;
  closed(): boolean;
  destroy(): void;
}

export function connectLines(port: number, host = "127.0.0.1"): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, allowHalfOpen: true });
    let buf = "";
    let ended = false;
    const lines: string[] = [];
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\n")) !== -1) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    socket.on("end", () => (ended = true));
    socket.on("close", () => (ended = true));
    socket.on("error", () => (ended = true));
    socket.once("connect", () =>
      resolve({
        socket,
        write: (data) => new Promise((res, rej) => socket.write(data, (err) => (err ? rej(err) : res()))),
        end: () => socket.end(),
        lines: () => lines,
        async waitLines(n, timeoutMs = 5000) {
          const deadline = Date.now() + timeoutMs;
          while (lines.length < n) {
            if (Date.now() > deadline) throw new Error(`expected ${n} reply lines, got ${lines.length}: ${JSON.stringify(lines)}`);
            await Bun.sleep(5);
          }
          return lines;
        },
        async waitClosed(timeoutMs = 5000) {
          const deadline = Date.now() + timeoutMs;
          while (!ended) {
            if (Date.now() > deadline) return false;
            await Bun.sleep(5);
          }
          return true;
        },
        closed: () => ended,
        destroy: () => socket.destroy(),
      }),
    );
    socket.once("error", reject);
  });
}
