// The sandbox's POP3 side (RFC 1939 + CAPA/PIPELINING/RESP-CODES of RFC 2449, AUTH PLAIN of
// RFC 5034): the admin's inbox, read-only, on loopback, for `MAIL_PROTOCOL=pop3` and for the
// collector's tests. Each session sees the messages as they were at login, numbered 1..n
// (as real servers do: a message that went meanwhile renumbers the next session); UIDL gives the
// store's ids. DELE is refused — nothing here deletes mail. No TLS: loopback only.
import net from "node:net";
import { LineAssembler } from "../wire/framing";
import { dotStuff } from "../collector/pop3/framing";

export interface Pop3StoreMessage {
  /** the UIDL: unique in the store, never reused */
  id: string;
  size: number;
  read(): Buffer;
}

export interface SandboxPop3Options {
  host?: string;
  /** 0 = any free port */
  port: number;
  /** login → password */
  users: Record<string, string>;
  /** the inbox as it is now (called at each login) */
  list(): Pop3StoreMessage[];
  /** answer UIDL (default true; false plays a server without unique ids) */
  uidl?: boolean;
  /** announce PIPELINING (default true) */
  pipelining?: boolean;
}

export interface SandboxPop3 {
  host: string;
  port: number;
  /** sessions opened so far */
  sessions: number;
  close(): Promise<void>;
}

interface Session {
  user: string | null;
  messages: Pop3StoreMessage[] | null;
  auth: ((line: string) => void) | null;
}

export async function startSandboxPop3(o: SandboxPop3Options): Promise<SandboxPop3> {
  const host = o.host ?? "127.0.0.1";
  const sockets = new Set<net.Socket>();
  const state = { sessions: 0 };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    state.sessions++;
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const session: Session = { user: null, messages: null, auth: null };
    const reply = (text: string) => socket.write(`${text}\r\n`);
    const lines = new LineAssembler(8192);
    socket.on("data", (chunk: Buffer) => {
      for (const frame of lines.push(chunk)) {
        if (frame.kind === "overflow") return void (reply("-ERR Line too long."), socket.end());
        if (frame.kind === "invalid-utf8") {
          reply("-ERR Not UTF-8.");
          continue;
        }
        if (session.auth) session.auth(frame.text);
        else command(o, session, frame.text, reply, socket);
      }
    });
    reply("+OK Mailer sandbox POP3 ready");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, host, () => (server.off("error", reject), resolve()));
  });
  return {
    host,
    port: (server.address() as net.AddressInfo).port,
    get sessions() {
      return state.sessions;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function capabilities(o: SandboxPop3Options): string {
  const caps = ["USER", "SASL PLAIN", "RESP-CODES", "AUTH-RESP-CODE"];
  if (o.uidl !== false) caps.push("UIDL");
  if (o.pipelining !== false) caps.push("PIPELINING");
  return `+OK Capability list follows\r\n${caps.join("\r\n")}\r\n.`;
}

function login(o: SandboxPop3Options, session: Session, user: string, password: string, reply: (t: string) => void): void {
  if (!Object.hasOwn(o.users, user) || o.users[user] !== password) return reply("-ERR [AUTH] Authentication failed.");
  session.user = user;
  session.messages = o.list();
  reply(`+OK Logged in, ${session.messages.length} messages.`);
}

function plain(o: SandboxPop3Options, session: Session, b64: string, reply: (t: string) => void): void {
  const [, user = "", password = ""] = Buffer.from(b64, "base64").toString("utf8").split("\0");
  login(o, session, user, password, reply);
}

function command(o: SandboxPop3Options, session: Session, line: string, reply: (t: string) => void, socket: net.Socket): void {
  const [verb = "", ...args] = line.split(" ");
  const cmd = verb.toUpperCase();
  if (cmd === "QUIT") return void (reply("+OK Logging out."), socket.end());
  if (cmd === "CAPA") return reply(capabilities(o));
  const messages = session.messages;
  if (!messages) {
    if (cmd === "USER") return void ((session.user = args.join(" ")), reply("+OK"));
    if (cmd === "PASS" && session.user !== null) return login(o, session, session.user, args.join(" "), reply);
    if (cmd === "AUTH" && args[0]?.toUpperCase() === "PLAIN") {
      if (args[1]) return plain(o, session, args[1], reply);
      session.auth = (answer) => ((session.auth = null), answer === "*" ? reply("-ERR Authentication aborted") : plain(o, session, answer, reply));
      return reply("+ ");
    }
    return reply("-ERR Log in first (USER/PASS or AUTH PLAIN).");
  }
  const n = Number(args[0]);
  const pick = () => (Number.isInteger(n) && n >= 1 && n <= messages.length ? messages[n - 1]! : null);
  if (cmd === "NOOP" || cmd === "RSET") return reply("+OK");
  if (cmd === "STAT") return reply(`+OK ${messages.length} ${messages.reduce((a, m) => a + m.size, 0)}`);
  if (cmd === "LIST" || (cmd === "UIDL" && o.uidl !== false)) {
    const value = (m: Pop3StoreMessage) => (cmd === "LIST" ? String(m.size) : m.id);
    if (args[0] !== undefined) {
      const m = pick();
      return reply(m ? `+OK ${n} ${value(m)}` : "-ERR No such message");
    }
    return reply(["+OK", ...messages.map((m, i) => `${i + 1} ${value(m)}`), "."].join("\r\n"));
  }
  if (cmd === "RETR") {
    const m = pick();
    if (!m) return reply("-ERR No such message");
    const source = m.read();
    socket.write(`+OK ${source.length} octets\r\n`);
    return void socket.write(dotStuff(source));
  }
  if (cmd === "DELE") return reply("-ERR The sandbox inbox is read-only over POP3.");
  reply("-ERR Unknown command.");
}
