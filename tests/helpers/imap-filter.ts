// A misbehaving IMAP server for fault tests: a loopback proxy in front of a real one (the
// sandbox's hoodiecrow) that hands every server response — a whole one, literals included — to
// `rewrite` before the client sees it. Leave a FETCH reply out, malform it, or announce a huge
// literal and then say nothing more (`stallAfter`), the way broken servers do.
import net from "node:net";

/** what the client gets instead: the response (changed or not), nothing (null), or some bytes
 *  after which the server says nothing more on that connection */
export type Rewrite = (response: Buffer) => Buffer | null | { stallAfter: Buffer };

export interface ImapFilter {
  port: number;
  /** responses seen (after the greeting), as latin1 text, for assertions */
  seen: string[];
  close(): Promise<void>;
}

/** Splits the server's byte stream into responses: a line, and when it ends in a literal
 *  marker {n}, the n bytes and the rest of the response after them. */
export class ResponseSplitter {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let from = 0;
    let scan = 0;
    for (;;) {
      const eol = this.buf.indexOf("\r\n", scan);
      if (eol < 0) break;
      const literal = /\{(\d+)\+?\}$/.exec(this.buf.toString("latin1", Math.max(from, eol - 24), eol));
      if (literal) {
        const end = eol + 2 + Number(literal[1]);
        if (end > this.buf.length) break;
        scan = end;
        continue;
      }
      out.push(this.buf.subarray(from, eol + 2));
      from = scan = eol + 2;
    }
    this.buf = this.buf.subarray(from);
    return out;
  }
}

export async function startImapFilter(upstream: number, rewrite: Rewrite): Promise<ImapFilter> {
  const seen: string[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect({ port: upstream, host: "127.0.0.1" });
    for (const s of [client, up]) {
      open.add(s);
      s.on("error", () => {});
      s.on("close", () => (open.delete(s), client.destroy(), up.destroy()));
    }
    const splitter = new ResponseSplitter();
    let stalled = false;
    up.on("data", (chunk: Buffer) => {
      for (const response of splitter.push(chunk)) {
        if (stalled) return;
        seen.push(response.toString("latin1"));
        const out = rewrite(response);
        if (out && "stallAfter" in out) {
          stalled = true;
          client.write(out.stallAfter);
        } else if (out) client.write(out);
      }
    });
    client.on("data", (chunk: Buffer) => up.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The UID a `* n FETCH (… UID u …)` response is about, or null for any other response. */
export function fetchUid(response: Buffer): number | null {
  const m = /^\* \d+ FETCH \(.*?\bUID (\d+)/.exec(response.toString("latin1", 0, Math.min(response.length, 200)));
  return m ? Number(m[1]) : null;
}
