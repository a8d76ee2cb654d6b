// Ticket load for the multi-machine tests and the bench: `connections` clients, each sending its
// share of requests one after another on one TCP connection, reconnecting when the connection
// breaks (a server killed under it) — a request whose connection broke has no reply ("lost").
// Each request has a unique message text, so its mail can be found in an SMTP sink.
import { connectLines, type LineClient } from "./line-client";

export interface LoadResult {
  id: number;
  email: string;
  text: string;
  status: "OK" | "ERROR" | "lost";
  ticket?: string;
  code?: string;
}

export interface LoadOptions {
  port: number;
  connections: number;
  total: number;
  /** bytes sent first on every connection (a PROXY header) */
  preamble?: Uint8Array;
  /** called after each reply, e.g. to kill a server in the middle */
  onResult?: (r: LoadResult, done: number) => void;
  replyTimeoutMs?: number;
  /** a label in the texts, so that two loads in one test never share a text */
  tag?: string;
}

export async function runTicketLoad(o: LoadOptions): Promise<LoadResult[]> {
  const results: LoadResult[] = [];
  let next = 0;
  const tag = o.tag ?? "load";
  const worker = async () => {
    let c: LineClient | null = null;
    let seen = 0;
    for (let id = next++; id < o.total; id = next++) {
      const email = `user${id % 97}@example.test`;
      const text = `${tag} request ${id}`;
      const r: LoadResult = { id, email, text, status: "lost" };
      try {
        if (!c || c.closed()) {
          c?.destroy();
          c = await connectLines(o.port);
          seen = 0;
          if (o.preamble) await c.write(o.preamble);
        }
        await c.write(JSON.stringify({ email, message: text }) + "\n");
        const reply = JSON.parse(await nextLine(c, seen++, o.replyTimeoutMs ?? 20_000)) as { status: "OK" | "ERROR"; ticket?: string; code?: string };
        Object.assign(r, { status: reply.status, ticket: reply.ticket, code: reply.code });
      } catch {
        c?.destroy();
        c = null;
      }
      results.push(r);
      o.onResult?.(r, results.length);
    }
    c?.destroy();
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  return results.sort((a, b) => a.id - b.id);
}

/** Reply line number `index`; throws as soon as the connection is closed without it. */
async function nextLine(c: LineClient, index: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = c.lines();
    if (lines.length > index) return lines[index]!;
    if (c.closed()) throw new Error("connection closed before the reply");
    if (Date.now() > deadline) throw new Error("no reply in time");
    await Bun.sleep(2);
  }
}
