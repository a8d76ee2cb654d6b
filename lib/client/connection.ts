// The client's side of the wire protocol: connect, send one request line, read one reply
// line. Shared by client.ts, the demo and the benchmarks.
import { LineAssembler } from "../wire/framing";
import { encodeRequest, parseReply, type Reply } from "../wire/protocol";
import type { Via } from "../wire/via";

export type TicketOutcome =
  | { kind: "reply"; reply: Reply }
  /** could not connect, or no (valid) reply in time: exit code 3 */
  | { kind: "unreachable"; reason: string };

const MAX_REPLY_BYTES = 1 << 20;

function serverHint(host: string, port: number): string {
  return `the Mailer server at ${host}:${port}`;
}

/**
 * Sends one ticket request and waits for its reply. Never throws: a connection problem or a
 * timeout comes back as { kind: "unreachable", reason } with a sentence a person can act on.
 */
export async function requestTicket(host: string, port: number, email: string, message: string, timeoutMs = 60_000, via?: Via): Promise<TicketOutcome> {
  const where = serverHint(host, port);
  return new Promise<TicketOutcome>((resolve) => {
    const assembler = new LineAssembler(MAX_REPLY_BYTES);
    let settled = false;
    let connected = false;
    let socket: import("bun").Socket<undefined> | null = null;
    let pending: Uint8Array = new TextEncoder().encode(encodeRequest({ email, message, via }));

    const finish = (outcome: TicketOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket?.end();
      } catch {
        /* already closed */
      }
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      finish({
        kind: "unreachable",
        reason: connected
          ? `${where} did not answer within ${Math.round(timeoutMs / 1000)} s — it may be overloaded or its SMTP server slow; try again later`
          : `cannot reach ${where} (no answer within ${Math.round(timeoutMs / 1000)} s) — is \`bun server.ts\` running there, and is the address right?`,
      });
    }, timeoutMs);

    const flush = (s: import("bun").Socket<undefined>) => {
      while (pending.length > 0) {
        const n = s.write(pending);
        if (n <= 0) return;
        pending = pending.subarray(n);
      }
    };

    Bun.connect({
      hostname: host,
      port,
      socket: {
        open(s) {
          connected = true;
          socket = s;
          flush(s);
        },
        drain(s) {
          flush(s);
        },
        data(_s, chunk) {
          for (const frame of assembler.push(chunk)) {
            if (frame.kind !== "line") {
              finish({ kind: "unreachable", reason: `${where} sent a reply that is not a Mailer reply — is SERVER_PORT pointing at the right program?` });
              return;
            }
            if (frame.text.trim() === "") continue;
            const reply = parseReply(frame.text);
            finish(
              reply
                ? { kind: "reply", reply }
                : { kind: "unreachable", reason: `${where} sent a reply that is not a Mailer reply (${JSON.stringify(frame.text.slice(0, 80))}) — is SERVER_PORT pointing at the right program?` },
            );
            return;
          }
        },
        end() {
          finish({ kind: "unreachable", reason: `${where} closed the connection without answering — it may be shutting down; try again in a moment` });
        },
        close() {
          finish({ kind: "unreachable", reason: `${where} closed the connection without answering — it may be shutting down; try again in a moment` });
        },
        error(_s, err) {
          finish({ kind: "unreachable", reason: `lost the connection to ${where}: ${err.message}` });
        },
        connectError(_s, err) {
          const code = (err as NodeJS.ErrnoException).code ?? "";
          const why = code === "ECONNREFUSED" ? "connection refused" : err.message;
          finish({ kind: "unreachable", reason: `cannot reach ${where} (${why}) — is \`bun server.ts\` running there?` });
        },
      },
    }).catch((err: NodeJS.ErrnoException) => {
      const why = err.code === "ECONNREFUSED" ? "connection refused" : err.message;
      finish({ kind: "unreachable", reason: `cannot reach ${where} (${why}) — is \`bun server.ts\` running there?` });
    });
  });
}
