// The client's side of the wire protocol: connect, send one request line, read one reply
// line. Shared by client.ts, the demo and the benchmarks.
import type { Socket } from "bun";
import { LineAssembler } from "../wire/framing";
import { encodeRequest, parseReply, type Reply } from "../wire/protocol";
import type { Via } from "../wire/via";

export type TicketOutcome =
  | { kind: "reply"; reply: Reply }
  /** could not connect, or no (valid) reply in time: exit code 3 */
  | { kind: "unreachable"; error: string };

const MAX_REPLY_BYTES = 1 << 20;

function serverHint(host: string, port: number): string {
  return `the Mailer server at ${host}:${port}`;
}

/**
 * Sends one ticket request and waits for its reply. Never throws: a connection problem or a
 * timeout comes back as { kind: "unreachable", error: reason } with a sentence a person can act on.
 */
export async function requestTicket(host: string, port: number, email: string, message: string, timeoutMs = 60_000, via?: Via): Promise<TicketOutcome> {
  const where = serverHint(host, port);
  return new Promise<TicketOutcome>((resolve) => {
    const x = new Exchange(where, new TextEncoder().encode(encodeRequest({ email, message, via })), timeoutMs, resolve);
    const closed = () => x.unreachable(`${where} closed the connection without answering — it may be shutting down; try again in a moment`);
    const cannotConnect = (err: NodeJS.ErrnoException) => {
      const why = err.code === "ECONNREFUSED" ? "connection refused" : err.message;
      x.unreachable(`cannot reach ${where} (${why}) — is it running there (\`bun server.ts\` or mailer-server)?`);
    };
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (s) => x.open(s),
        drain: (s) => x.flush(s),
        data: (_s, chunk) => x.data(chunk),
        end: closed,
        close: closed,
        error: (_s, err) => x.unreachable(`lost the connection to ${where}: ${err.message}`),
        connectError: (_s, err) => cannotConnect(err as NodeJS.ErrnoException),
      },
    }).catch(cannotConnect);
  });
}

/** One request on one connection: writes it (in parts, if the socket takes only some), reads one reply line, settles once. */
class Exchange {
  private readonly assembler = new LineAssembler(MAX_REPLY_BYTES);
  private readonly timer: ReturnType<typeof setTimeout>;
  private settled = false;
  private connected = false;
  private socket: Socket<undefined> | null = null;

  constructor(private readonly where: string, private pending: Uint8Array, timeoutMs: number, private readonly resolve: (o: TicketOutcome) => void) {
    const seconds = Math.round(timeoutMs / 1000);
    this.timer = setTimeout(() => {
      this.unreachable(
        this.connected
          ? `${where} did not answer within ${seconds} s — it may be overloaded or its SMTP server slow; try again later`
          : `cannot reach ${where} (no answer within ${seconds} s) — is it running there (\`bun server.ts\` or mailer-server), and is the address right?`,
      );
    }, timeoutMs);
  }

  open(s: Socket<undefined>): void {
    this.connected = true;
    this.socket = s;
    this.flush(s);
  }

  flush(s: Socket<undefined>): void {
    while (this.pending.length > 0) {
      const n = s.write(this.pending);
      if (n <= 0) return;
      this.pending = this.pending.subarray(n);
    }
  }

  data(chunk: Uint8Array): void {
    const notOurs = `${this.where} sent a reply that is not a Mailer reply`;
    for (const frame of this.assembler.push(chunk)) {
      if (frame.kind !== "line") return this.unreachable(`${notOurs} — is SERVER_PORT pointing at the right program?`);
      if (frame.text.trim() === "") continue;
      const reply = parseReply(frame.text);
      if (reply) return this.finish({ kind: "reply", reply });
      return this.unreachable(`${notOurs} (${JSON.stringify(frame.text.slice(0, 80))}) — is SERVER_PORT pointing at the right program?`);
    }
  }

  unreachable(reason: string): void {
    this.finish({ kind: "unreachable", error: reason });
  }

  private finish(outcome: TicketOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    try {
      this.socket?.end();
    } catch {
      /* already closed */
    }
    this.resolve(outcome);
  }
}
