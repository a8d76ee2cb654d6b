// SMTP sink for the benchmarks: smtp-server on loopback that accepts every message and discards
// it (the body is drained, never stored). STARTTLS is off; AUTH is offered and accepts the
// configured login (any password when SINK_LOGIN is unset) so the sender's AUTH step is timed too.
// Run in its own process: prints {"ready":{"port":N}}; on SIGTERM prints {"result":{...}} and exits.
//
// smtp-server waits a fixed 100 ms before its greeting on every connection (an "early talker"
// check, not configurable). Real MTAs greet at once, and that pause would dominate whenever a
// pooled sender opens a connection (nodemailer's pool recycles each connection after 100
// messages), so the sink greets at once too; SINK_GREETING_DELAY=100 restores it.
// SINK_DEFAULTS=1: smtp-server exactly as it comes (the 100 ms greeting pause and the reverse
// DNS lookup of every client): what a new connection costs on the light-load latency run.
import { SMTPServer } from "smtp-server";
// @ts-ignore — internal module, no types; the package exports it as "./lib/*.js"
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";

const DEFAULTS = process.env.SINK_DEFAULTS === "1";
if (process.env.SINK_GREETING_DELAY !== "100" && !DEFAULTS) {
  (SMTPConnection as any).prototype.init = function (this: any) {
    this._setListeners(() => this.connectionReady());
  };
}

const login = process.env.SINK_LOGIN || "";
const password = process.env.SINK_PASSWORD || "";
let messages = 0;
let bytes = 0;
let connections = 0;
let authFailures = 0;

const server = new SMTPServer({
  logger: false,
  disabledCommands: ["STARTTLS"],
  allowInsecureAuth: true,
  authOptional: true,
  authMethods: ["PLAIN", "LOGIN"],
  disableReverseLookup: !DEFAULTS,
  size: 0,
  maxClients: 10_000,
  onConnect(_session, callback) { connections++; callback(); },
  onAuth(auth, _session, callback) {
    if (login && (auth.username !== login || auth.password !== password)) {
      authFailures++;
      return callback(new Error("Invalid username or password"));
    }
    callback(null, { user: auth.username });
  },
  onData(stream, _session, callback) {
    stream.on("data", (chunk: Buffer) => { bytes += chunk.length; });
    stream.on("end", () => { messages++; callback(); });
  },
});

server.on("error", (err) => console.error(`sink: ${err.message}`));
server.listen(Number(process.env.SINK_PORT || 0), "127.0.0.1", () => {
  const address = server.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  console.log(JSON.stringify({ ready: { port } }));
});

/** SIGUSR2: report the count without stopping (for runs that must check delivery). */
process.on("SIGUSR2", () => console.log(JSON.stringify({ count: { messages, bytes, connections, authFailures } })));
process.on("SIGTERM", () => {
  console.log(JSON.stringify({ result: { messages, bytes, connections, authFailures } }));
  process.exit(0);
});
