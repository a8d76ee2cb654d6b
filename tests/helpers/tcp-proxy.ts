// A loopback TCP proxy for fault tests: forwards to an upstream port that can be switched
// (or unset: connections are then refused by closing them at once), and can cut a connection
// after a given number of bytes from the server — e.g. in the middle of an IMAP FETCH.
import net from "node:net";

export interface Proxy {
  port: number;
  /** where new connections go; null = close them at once (the server is "down") */
  setUpstream(port: number | null): void;
  /** the next connections are cut after this many server→client bytes, one value each */
  cutAfter(...bytes: number[]): void;
  /** the next connection is cut after this many bytes and the upstream unset at that instant:
   *  the server "goes away" at a known point, however fast the client reads */
  goDownAfter(bytes: number): void;
  /** connections cut so far, and the byte count at which each was cut */
  cuts: number[];
  /** cuts every open connection now */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startProxy(upstream: number | null): Promise<Proxy> {
  let target = upstream;
  const plan: number[] = [];
  let downAfter: number | null = null;
  const cuts: number[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.on("error", () => {});
    if (target === null) return void client.destroy();
    const down = downAfter !== null;
    const limit = down ? downAfter! : plan.shift();
    downAfter = null;
    const up = net.connect({ port: target, host: "127.0.0.1" });
    up.on("error", () => client.destroy());
    client.on("close", () => up.destroy());
    up.on("close", () => client.destroy());
    open.add(client);
    open.add(up);
    client.on("close", () => open.delete(client));
    up.on("close", () => open.delete(up));
    let seen = 0;
    up.on("data", (chunk: Buffer) => {
      if (limit !== undefined && seen + chunk.length >= limit) {
        // forward the part before the cut, then drop both sides without a goodbye
        client.write(chunk.subarray(0, Math.max(0, limit - seen)), () => {
          client.destroy();
          up.destroy();
        });
        seen = limit;
        cuts.push(limit);
        if (down) target = null;
        up.pause();
        return;
      }
      seen += chunk.length;
      client.write(chunk);
    });
    client.on("data", (chunk: Buffer) => up.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    setUpstream: (p) => (target = p),
    cutAfter: (...bytes) => plan.push(...bytes),
    goDownAfter: (bytes) => void (downAfter = bytes),
    cuts,
    dropAll() {
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
