// An SMTP server (smtp-server on loopback) whose behaviour per recipient can be switched while
// it runs: accept, refuse with 451, drop the connection in the middle of DATA, or answer the
// end of DATA only after a delay (or never). Records what it accepted: envelope, subject,
// Message-ID — enough to count admin copies per ticket.
import { SMTPServer } from "smtp-server";

export type Behaviour = "accept" | "refuse" | "drop" | { delayMs: number };

export interface FaultMessage {
  to: string[];
  subject: string;
  messageId: string;
  ticket: string | null;
}

export interface FaultSink {
  port: number;
  messages: FaultMessage[];
  /** how each recipient is treated from now on (default: accept) */
  behave: (fn: (recipient: string) => Behaviour) => void;
  /** connections dropped mid-DATA so far */
  dropped: number;
  close(): Promise<void>;
}

interface Conn {
  session: unknown;
  _socket?: { destroy(): void; destroyed?: boolean };
}

export async function startFaultSink(port = 0): Promise<FaultSink> {
  let behaviour: (recipient: string) => Behaviour = () => "accept";
  const messages: FaultMessage[] = [];
  const counts = { dropped: 0 };
  const server: SMTPServer = new SMTPServer({
    logger: false,
    disabledCommands: ["AUTH", "STARTTLS"],
    authOptional: true,
    closeTimeout: 100,
    onRcptTo(address, _session, cb) {
      if (behaviour(address.address) === "refuse") {
        const err = new Error("4.3.0 try again later") as Error & { responseCode: number };
        err.responseCode = 451;
        return cb(err);
      }
      cb();
    },
    onData(stream, session, cb) {
      const rcpt = session.envelope.rcptTo[0]?.address ?? "";
      const b = behaviour(rcpt);
      const conn = [...((server as unknown as { connections: Set<Conn> }).connections ?? [])].find((c) => c.session === session);
      const chunks: Buffer[] = [];
      let cut = false;
      stream.on("data", (c: Buffer) => {
        chunks.push(c);
        if (b === "drop" && !cut) {
          // the middle of DATA: part of the message is in, no reply will ever come
          cut = true;
          counts.dropped++;
          conn?._socket?.destroy();
        }
      });
      stream.on("end", () => {
        if (cut) return;
        const raw = Buffer.concat(chunks).toString("utf8");
        const header = raw.split("\r\n\r\n")[0] ?? "";
        const subject = /^Subject: (.*)$/im.exec(header)?.[1]?.trim() ?? "";
        const record = () => {
          // a connection that died while we delayed: the client was told nothing, keep nothing
          if (conn?._socket?.destroyed) return;
          messages.push({
            to: session.envelope.rcptTo.map((r) => r.address),
            subject,
            messageId: /^Message-ID: (.*)$/im.exec(header)?.[1]?.trim() ?? "",
            ticket: /\[Ticket #(\d+)\]/.exec(subject)?.[1] ?? null,
          });
          cb(null);
        };
        if (typeof b === "object") (setTimeout(record, b.delayMs) as { unref?: () => void }).unref?.();
        else record();
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.server.address() as { port: number }).port,
    messages,
    behave: (fn) => (behaviour = fn),
    get dropped() {
      return counts.dropped;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of (server as unknown as { connections: Set<Conn> }).connections ?? []) c._socket?.destroy();
        server.close(() => resolve());
      }),
  };
}
