// bun server.ts — the Mailer ticket server (README "Running it"). Thin: reads the
// configuration, wires lib/ together, prints one line per request, stops cleanly on a signal.
import { configOrExit, EXIT, fail } from "./lib/shared/cli";
import { Outbox } from "./lib/server/outbox";
import { exposureWarning, readinessLine } from "./lib/server/banner";
import type { Reply } from "./lib/wire/protocol";
import { RateLimiter } from "./lib/server/rate-limit";
import { makeRedactor } from "./lib/shared/redact";
import { NodemailerSender } from "./lib/server/smtp";
import { TcpServer, type Peer } from "./lib/server/tcp-server";
import { caOrExit } from "./lib/shared/tls";
import { TicketService, type Outcome } from "./lib/server/ticket-service";
import { acquireStateLock, StateError, TicketAllocator } from "./lib/server/tickets";

const USAGE = `Usage: bun server.ts [--debug]

Listens on SERVER_HOST:SERVER_PORT for ticket requests (one JSON object per line, see README
"Wire protocol"), mails each message to the person and to ADMIN_EMAIL, answers with the ticket
number. Configuration comes from .env / .env.local / the environment (README "Configuration").

  --debug   also print the SMTP conversation (passwords masked) on stderr
  --help    this text

Stops cleanly (answers the requests in flight) on Ctrl-C or SIGTERM.`;

const argv = Bun.argv.slice(2);
let debug = false;
for (const arg of argv) {
  if (arg === "--help" || arg === "-h") {
    console.log(USAGE);
    process.exit(EXIT.OK);
  } else if (arg === "--debug") debug = true;
  else fail(`server: unknown argument ${JSON.stringify(arg)}\n\n${USAGE}`, EXIT.USAGE);
}

const config = configOrExit("server");
const ca = caOrExit(config, "server");

let releaseLock: () => void;
let tickets: TicketAllocator;
try {
  releaseLock = acquireStateLock(config.stateDir);
  tickets = new TicketAllocator(config.stateDir);
} catch (err) {
  if (err instanceof StateError) fail(`server: cannot start: ${err.message}`, EXIT.USAGE);
  fail(`server: cannot use STATE_DIR=${config.stateDir}: ${(err as Error).message} — check that it is a writable directory`, EXIT.USAGE);
}

const redact = makeRedactor(config.emailLogin, config.emailPassword);
const now = () => new Date().toISOString();
const logError = (line: string) => console.error(`${now()} ${redact(line)}`);

const sender = new NodemailerSender({
  smtp: config.smtp,
  login: config.emailLogin,
  password: config.emailPassword,
  poolSize: config.smtpPoolSize,
  timeoutSec: config.smtpTimeout,
  ca,
  redact,
  debugLog: debug ? (line) => console.error(line) : undefined,
});

let outbox: Outbox;
try {
  outbox = new Outbox(config.stateDir, sender, { info: (l) => console.log(`${now()} ${l}`), error: logError });
} catch (err) {
  releaseLock();
  fail(`server: cannot open the outbox in STATE_DIR=${config.stateDir}: ${(err as Error).message}`, EXIT.USAGE);
}

const perClient = new RateLimiter(config.rateLimitPerMinute, 60_000);
const perRecipient = new RateLimiter(config.recipientLimitPerHour, 3_600_000);
const service = new TicketService({
  adminEmail: config.adminEmail,
  maxMessageChars: config.maxMessageChars,
  sender,
  outbox,
  issueTicket: () => tickets.issue(),
  perClient,
  perRecipient,
  logError,
  frontendSecret: config.webFrontendSecret,
});

/** One line per request: time, peer, outcome. Never the message text, never a secret. */
function logRequest(peer: Peer, reply: Reply, outcome?: Outcome, ms?: number): void {
  const took = ms === undefined ? "" : ` ${ms}ms`;
  if (reply.status === "OK") console.log(`${now()} ${peer.label} OK ticket=${reply.ticket} admin=${outcome?.admin ?? "?"}${took}`);
  else console.log(`${now()} ${peer.label} ERROR ${reply.code}${reply.code === "MAIL_FAILED" || reply.code === "INTERNAL" ? ` (${redact(reply.error)})` : ""}${took}`);
}

const tcp = new TcpServer({
  host: config.serverHost,
  port: config.serverPort,
  maxRequestBytes: config.maxRequestBytes,
  idleTimeoutSec: config.idleTimeout,
  maxConnections: config.maxConnections,
  async handle(line, peer) {
    const started = performance.now();
    const outcome = await service.handle(line, peer.ip);
    logRequest(peer, outcome.reply, outcome, Math.round(performance.now() - started));
    return outcome.reply;
  },
  onLocalReply: (peer, reply) => logRequest(peer, reply),
});

try {
  tcp.start();
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  releaseLock();
  const why = e.code === "EADDRINUSE" ? "the address is already in use (another server on that port?)" : e.code === "EADDRNOTAVAIL" ? "this machine has no such address" : e.message;
  fail(`server: cannot listen on ${config.serverHost}:${config.serverPort}: ${why} — change SERVER_HOST/SERVER_PORT or stop the other program`, EXIT.USAGE);
}

console.log(readinessLine(config, tcp.port));
const warning = exposureWarning(config);
if (warning) console.error(warning);
for (const dead of outbox.deadLetters) {
  console.error(`WARNING: dead letter in ${outbox.path}: the admin copy of ticket ${dead.ticket} was refused permanently (${dead.dead?.reason}) — it is not retried`);
}
if (outbox.pending.length) console.log(`${now()} outbox: ${outbox.pending.length} admin copies queued from before; retrying now and every ${config.outboxRetry} s`);
outbox.start(config.outboxRetry);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    console.error(`${now()} ${signal} again: exiting at once`);
    process.exit(1);
  }
  stopping = true;
  console.log(`${now()} ${signal}: no new connections; answering the requests in flight`);
  await tcp.stop((2 * config.smtpTimeout + 5) * 1000);
  await outbox.stop();
  await sender.close();
  try {
    tickets.close();
  } catch (err) {
    logError(`could not give back the unused ticket numbers (the next start skips them): ${(err as Error).message}`);
  }
  releaseLock();
  console.log(`${now()} stopped`);
  process.exit(EXIT.OK);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
// The terminal it ran in was closed: stop as cleanly as on Ctrl-C.
process.on("SIGHUP", () => void shutdown("SIGHUP"));
