// An embedded IMAP server for tests and for `bun run sandbox`, built on hoodiecrow-imap.
// hoodiecrow is a scriptable mock: this wrapper makes it behave like a small real server —
// only the given users may log in (its built-in testuser/testpass is not accepted), every start
// has a fresh UIDVALIDITY (hoodiecrow would say 1 on every start, so a checkpoint from an
// earlier run would hide new mail), IDLE is on, and mail appended from the sandbox side is
// announced to connected clients (EXISTS), waking a client in IDLE at once.
import hoodiecrow from "hoodiecrow-imap";
import type { Socket } from "node:net";
import { searchFix } from "./imap-search";
import { messageRangeFix } from "./message-range";
import { nextUidValidity, SANDBOX_IMAP_NAME } from "./uidvalidity";
import { PLUGINS, registerCommands } from "./hoodiecrow-modules";

export interface SandboxImapOptions {
  host?: string;
  /** 0 = any free port */
  port: number;
  /** login → password */
  users: Record<string, string>;
  /** default: fresh per start, unique across processes on this machine (./uidvalidity.ts) */
  uidValidity?: number;
  /** advertise and serve IDLE (default true) */
  idle?: boolean;
  /** print the IMAP conversation (passwords included — sandbox only) */
  debug?: boolean;
  /** PEM key and certificate — for TLS tests: implicit TLS on the port (as on 993), or with
   *  `starttls: true` a plain port that offers STARTTLS */
  tls?: { key: string | Buffer; cert: string | Buffer; starttls?: boolean };
}

export interface SandboxMessage {
  uid: number;
  flags: string[];
}

export interface SandboxImap {
  port: number;
  host: string;
  uidValidity: number;
  /** Adds a message to INBOX (as if delivered); resolves to its UID. */
  append(raw: Buffer | string, flags?: string[]): Promise<number>;
  /** Replaces a message's flags (as another mail client would); connected clients are told. */
  setFlags(uid: number, flags: string[]): void;
  messages(): SandboxMessage[];
  /** The sources as they are now, read on demand (for the sandbox's POP3 side). */
  sources(): { uid: number; size: number; read(): Buffer }[];
  close(): Promise<void>;
}


interface HoodieMessage {
  uid: number;
  flags: string[];
  raw: string;
  internaldate?: string;
}

export async function startSandboxImap(options: SandboxImapOptions): Promise<SandboxImap> {
  const host = options.host ?? "127.0.0.1";
  const uidValidity = options.uidValidity ?? nextUidValidity();
  const users: Record<string, { password: string }> = {};
  for (const [login, password] of Object.entries(options.users)) users[login] = { password };
  if (Object.keys(users).length === 0) throw new Error("startSandboxImap: give at least one user");

  // functions, not names: hoodiecrow would require() names by computed paths (hoodiecrow-modules.ts)
  // registerCommands first: the fixes below wrap handlers that hoodiecrow would otherwise autoload
  const plugins: ((server: any) => void)[] = [
    registerCommands,
    ...["ID", "ENABLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "LITERALPLUS", "SPECIAL-USE"].map((n) => PLUGINS[n]!),
    loginQuotingFix,
    searchFix,
  ];
  if (options.idle !== false) plugins.push(PLUGINS.IDLE!, idleDoneFix);
  if (options.tls?.starttls) plugins.push(PLUGINS.STARTTLS!);
  const server = hoodiecrow({
    // hoodiecrow stores message sources as "binary" (latin1) strings
    storage: { INBOX: { uidvalidity: uidValidity, messages: [] }, "": { separator: "/", folders: {} } },
    users,
    plugins,
    debug: options.debug === true,
    // its IMAP ID answer: the collector tells the sandbox's fresh UIDVALIDITY at every start from a renumbered real mailbox
    id: { name: SANDBOX_IMAP_NAME },
    ...(options.tls ? { secureConnection: !options.tls.starttls, credentials: { key: options.tls.key, cert: options.tls.cert } } : {}),
  });

  wholeSourceFetch(server);
  messageRangeFix(server);

  const sockets = new Set<Socket>();
  server.connectionHandlers.push((connection: { socket: Socket }) => {
    const socket = connection.socket;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(options.port, host, () => (server.server.off("error", reject), resolve()));
  });
  const port = (server.server.address() as { port: number }).port;
  const inbox = () => server.getMailbox("INBOX") as { messages: HoodieMessage[] };
  let closed = false;

  return {
    port,
    host,
    uidValidity,
    async append(raw, flags = []) {
      if (closed) throw new Error("sandbox IMAP server is closed");
      const source = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
      // appendMessage notifies every session that has INBOX selected (EXISTS)
      const { message } = server.appendMessage("INBOX", [...flags], new Date(), source.toString("latin1"));
      return message.uid as number;
    },
    setFlags(uid, flags) {
      setFlagsAndNotify(server, inbox(), uid, flags);
    },
    messages() {
      return inbox().messages.map((m) => ({ uid: m.uid, flags: [...m.flags] }));
    },
    sources() {
      // hoodiecrow holds "binary" (latin1) strings: one character per byte
      return inbox().messages.map((m) => ({ uid: m.uid, size: m.raw.length, read: () => Buffer.from(m.raw, "latin1") }));
    },
    async close() {
      if (closed) return;
      closed = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await done;
    },
  };
}

// FETCH BODY[] / BODY.PEEK[] (the whole source, or a <start.length> window of it) without
// hoodiecrow's own MIME parse of the message: that parse costs time and memory on a 30 MB
// message and has nothing to add to a byte copy. Section fetches keep hoodiecrow's handler.
function wholeSourceFetch(server: any): void {
  const builtin = require("hoodiecrow-imap/lib/commands/handlers/fetch.js");
  for (const key of ["BODY", "BODY.PEEK"]) {
    server.fetchHandlers[key] = (connection: unknown, message: HoodieMessage, query: { section?: unknown[]; partial?: number[] }) => {
      if (query.section && query.section.length === 0) {
        let value = message.raw;
        if (query.partial) {
          const [start = 0, length] = query.partial;
          value = value.substr(start, length ?? value.length);
          // as hoodiecrow's own handler: the response names only the origin when the window ran short
          if (query.partial.length === 2 && query.partial[1]! > value.length) query.partial.pop();
        }
        return { type: "LITERAL", value };
      }
      return builtin[key](connection, message, query);
    };
  }
}

/** Sets a message's flags and tells every session that has INBOX selected (FETCH FLAGS). */
function setFlagsAndNotify(server: any, box: { messages: HoodieMessage[] }, uid: number, flags: string[]): void {
  const index = box.messages.findIndex((m) => m.uid === uid);
  if (index < 0) throw new Error(`sandbox IMAP: no message with UID ${uid}`);
  box.messages[index]!.flags = [...flags];
  const attributes = [index + 1, { type: "ATOM", value: "FETCH" }, [{ type: "ATOM", value: "FLAGS" }, flags.map((f) => ({ type: "ATOM", value: f }))]];
  server.notify({ tag: "*", attributes }, box);
}

/** hoodiecrow leaves "direct notifications" on after IDLE ends (it sets true where it means
 *  false); then an EXPUNGE could be pushed in the middle of a FETCH. Restore queueing on DONE. */
function idleDoneFix(server: any): void {
  const idle = server.commandHandlers.IDLE;
  server.setCommandHandler("IDLE", (connection: any, parsed: unknown, data: unknown, callback: () => void) => {
    idle(connection, parsed, data, callback);
    const handler = connection.inputHandler;
    if (typeof handler === "function") {
      connection.inputHandler = (line: string) => {
        handler(line);
        connection.directNotifications = false;
      };
    }
  });
}

/** hoodiecrow's parser mangles escapes in quoted strings ("a\"b" arrives as a\b), so a
 *  password with " or \ never matched. Re-read LOGIN's two quoted arguments from the raw line. */
function loginQuotingFix(server: any): void {
  const login = server.getCommandHandler("LOGIN"); // loaded lazily by hoodiecrow
  const arg = String.raw`"((?:[^"\\]|\\.)*)"`;
  const line = new RegExp(String.raw`^\S+\s+LOGIN\s+${arg}\s+${arg}\s*$`, "i");
  server.setCommandHandler("LOGIN", (connection: any, parsed: any, data: unknown, callback: () => void) => {
    const m = typeof data === "string" ? line.exec(data) : null;
    if (m && parsed.attributes?.length === 2) {
      parsed.attributes[0].value = m[1]!.replace(/\\(.)/g, "$1");
      parsed.attributes[1].value = m[2]!.replace(/\\(.)/g, "$1");
    }
    login(connection, parsed, data, callback);
  });
}
