// A minimal SMTP server on loopback that can trickle (issue #13): at a chosen step it answers one
// byte per second and never ends its line, so a client's socket timeout (which fires on silence
// only) never trips. Every other step is answered at once. Records the messages it accepted.
import net from "node:net";

/** greeting, EHLO, MAIL, RCPT, DATA (the 354), or "DOT" (the reply to the end of the message) */
export type Step = "greeting" | "EHLO" | "MAIL" | "RCPT" | "DATA" | "DOT";

export interface TrickleSmtp {
  port: number;
  /** recipients of the messages accepted so far (first RCPT each) */
  accepted: string[];
  /** for each accepted message, the number (0-based) of the connection it came over */
  acceptedOn: number[];
  /** when each connection was opened (performance.now of this process) */
  openedAt: number[];
  /** connections opened so far */
  connections: number;
  /** which step trickles for a transaction to `rcpt` ("" before the first RCPT); default none */
  trickle: (fn: (step: Step, rcpt: string) => boolean) => void;
  close(): Promise<void>;
}

export async function startTrickleSmtp(): Promise<TrickleSmtp> {
  let trickles: (step: Step, rcpt: string) => boolean = () => false;
  const accepted: string[] = [];
  const acceptedOn: number[] = [];
  const openedAt: number[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const state = { connections: 0 };
  const server = net.createServer((socket) => {
    const id = state.connections++;
    openedAt.push(performance.now());
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let rcpt = "";
    let inData = false;
    let buf = "";
    let stalled = false;
    const reply = (step: Step, text: string) => {
      if (!trickles(step, rcpt)) return void socket.write(`${text}\r\n`);
      stalled = true; // a reply that never ends: one byte a second, never the CRLF
      let i = 0;
      const t = setInterval(() => (socket.destroyed ? clearInterval(t) : socket.write(text[i++ % text.length]!)), 1000);
      timers.add(t);
    };
    reply("greeting", "220 trickle.test ESMTP");
    socket.on("data", (chunk) => {
      if (stalled) return;
      buf += chunk.toString("latin1");
      for (let nl = buf.indexOf("\r\n"); nl !== -1 && !stalled; nl = buf.indexOf("\r\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line !== ".") continue;
          inData = false;
          accepted.push(rcpt);
          acceptedOn.push(id);
          reply("DOT", "250 2.0.0 queued");
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") reply("EHLO", "250 trickle.test");
        else if (verb === "MAIL") reply("MAIL", "250 2.1.0 ok");
        else if (verb === "RCPT") {
          rcpt = /<([^>]*)>/.exec(line)?.[1] ?? "";
          reply("RCPT", "250 2.1.5 ok");
        } else if (verb === "DATA") {
          inData = true;
          reply("DATA", "354 go ahead");
        } else if (verb === "RSET") reply("EHLO", "250 ok");
        else if (verb === "QUIT") {
          socket.end("221 bye\r\n");
        } else socket.write("502 5.5.2 not implemented\r\n");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    acceptedOn,
    openedAt,
    get connections() {
      return state.connections;
    },
    trickle: (fn) => (trickles = fn),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Starts one and registers its close in `cleanups`. */
export async function trickleSmtpFor(cleanups: (() => unknown)[]): Promise<TrickleSmtp> {
  const smtp = await startTrickleSmtp();
  cleanups.push(() => smtp.close());
  return smtp;
}
