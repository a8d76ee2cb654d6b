// The server as a program (README "Running it", "The server"): reads the configuration, opens
// the store, wires the sender, the outbox, the ticket service and the TCP listener together,
// prints one line per request, and stops cleanly on a signal. Start-up failures are thrown as
// MailerErrors; runCommand prints them and the entry point exits with their code.
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { EXIT, MailerError } from "../shared/errors";
import { makeRedactor } from "../shared/redact";
import { onStopSignals, type StopSignal } from "../shared/shutdown";
import type { Reply } from "../wire/protocol";
import { exposureWarning, readinessLine } from "./banner";
import { Outbox } from "./outbox";
import { RateLimiter } from "./rate-limit";
import { NodemailerSender } from "./smtp";
import { TcpServer, type Peer } from "./tcp-server";
import { TicketService, type Outcome } from "./ticket-service";
import { openStore, type Store } from "../store";

export interface ServerFlags {
  debug: boolean;
}

/** Timestamped lines on stdout (info) and stderr (error, redacted). */
interface ServerLog {
  now(): string;
  redact(text: string): string;
  info(line: string): void;
  error(line: string): void;
}

/** What runs once the server has started, and is stopped in this order. */
interface Running {
  config: Config;
  log: ServerLog;
  tcp: TcpServer;
  outbox: Outbox;
  sender: NodemailerSender;
  store: Store;
}

/** Starts the server; resolves to the exit code once a stop signal has stopped it. */
export async function runServerProgram(flags: ServerFlags, o: { exit(code: number): void }): Promise<number> {
  const config = loadConfigOrThrow("server");
  const ca = loadCaOrThrow(config, "server");
  const log = serverLog(makeRedactor(config.emailLogin, config.emailPassword));
  const store = await openStore({ stateDir: config.stateDir, logDir: config.logDir, databaseUrl: config.stateDatabaseUrl, application: "mailer-server" });
  for (const notice of store.notices) log.info(notice);
  const sender = new NodemailerSender({
    smtp: config.smtp,
    login: config.emailLogin,
    password: config.emailPassword,
    poolSize: config.smtpPoolSize,
    timeoutSec: config.smtpTimeout,
    ca,
    redact: log.redact,
    debugLog: flags.debug ? (line) => console.error(line) : undefined,
  });
  // a send is bounded by a few SMTP_TIMEOUT steps; a copy is protected for well beyond that
  const outbox = new Outbox(store.tickets, sender, log, { claimMs: 10 * config.smtpTimeout * 1000, retrySeconds: config.outboxRetry });
  let tcp: TcpServer;
  try {
    tcp = listen(config, ticketService(config, sender, outbox, store, log), log);
  } catch (err) {
    await store.close();
    throw err;
  }
  await announce(config, tcp, outbox, store, log);
  outbox.start();
  const running: Running = { config, log, tcp, outbox, sender, store };
  return await new Promise<number>((resolve, reject) => {
    onStopSignals({
      stop: (signal) => stop(running, signal).then(() => resolve(EXIT.OK), reject),
      exit: o.exit,
      log: (line) => console.error(`${log.now()} ${line}`),
    });
  });
}

function serverLog(redact: (text: string) => string): ServerLog {
  const now = () => new Date().toISOString();
  return {
    now,
    redact,
    info: (line) => console.log(`${now()} ${line}`),
    error: (line) => console.error(`${now()} ${redact(line)}`),
  };
}

function ticketService(config: Config, sender: NodemailerSender, outbox: Outbox, store: Store, log: ServerLog): TicketService {
  return new TicketService({
    adminEmail: config.adminEmail,
    maxMessageChars: config.maxMessageChars,
    sender,
    outbox,
    perClient: new RateLimiter(config.rateLimitPerMinute, 60_000),
    perRecipient: new RateLimiter(config.recipientLimitPerHour, 3_600_000),
    sharedRates: store.rates,
    logError: log.error,
  });
}

/** Binds SERVER_HOST:SERVER_PORT; every request is answered by the service and logged. */
function listen(config: Config, service: TicketService, log: ServerLog): TcpServer {
  const tcp = new TcpServer({
    host: config.serverHost,
    port: config.serverPort,
    maxRequestBytes: config.maxRequestBytes,
    idleTimeoutSec: config.idleTimeout,
    maxConnections: config.maxConnections,
    proxyProtocol: config.proxyProtocol,
    async handle(line, peer) {
      const started = performance.now();
      const outcome = await service.handle(line, peer.ip);
      logRequest(log, peer, outcome.reply, outcome, Math.round(performance.now() - started));
      return outcome.reply;
    },
    onLocalReply: (peer, reply) => logRequest(log, peer, reply),
  });
  try {
    tcp.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "EADDRINUSE" ? "the address is already in use (another server on that port?)" : e.code === "EADDRNOTAVAIL" ? "this machine has no such address" : e.message;
    throw new MailerError("config", `server: cannot listen on ${config.serverHost}:${config.serverPort}: ${why} — change SERVER_HOST/SERVER_PORT or stop the other program`, { cause: err });
  }
  return tcp;
}

/** One line per request: time, peer, outcome. Never the message text, never a secret. */
function logRequest(log: ServerLog, peer: Peer, reply: Reply, outcome?: Outcome, ms?: number): void {
  const took = ms === undefined ? "" : ` ${ms}ms`;
  if (reply.status === "OK") console.log(`${log.now()} ${peer.label} OK ticket=${reply.ticket} admin=${outcome?.admin ?? "?"}${took}`);
  else console.log(`${log.now()} ${peer.label} ERROR ${reply.code}${reply.code === "MAIL_FAILED" || reply.code === "INTERNAL" ? ` (${log.redact(reply.error)})` : ""}${took}`);
}

/** The readiness line people and tests wait for, then what needs attention. */
async function announce(config: Config, tcp: TcpServer, outbox: Outbox, store: Store, log: ServerLog): Promise<void> {
  const recovered = await outbox.recover();
  const summary = await outbox.summary();
  console.log(readinessLine(config, tcp.port));
  const warning = exposureWarning(config);
  if (warning) console.error(warning);
  for (const dead of summary.deadLetters) {
    console.error(`WARNING: dead letter in ${store.description}: the admin copy of ticket ${dead.ticket} was refused permanently (${dead.lastError}) — it is not retried; \`bun run state --requeue ${dead.ticket}\` sends it again`);
  }
  const queued = summary.ready + summary.held + summary.sending;
  if (queued) log.info(`outbox: ${queued} admin copies queued from before${recovered ? ` (${recovered} left by a server that stopped)` : ""}; retrying now and every ${config.outboxRetry} s`);
}

/** The clean stop: requests in flight answered, the outbox settled, the store closed. */
async function stop(r: Running, signal: StopSignal): Promise<void> {
  r.log.info(`${signal}: no new connections; answering the requests in flight`);
  await r.tcp.stop((2 * r.config.smtpTimeout + 5) * 1000);
  await r.outbox.stop();
  await r.sender.close();
  await r.store.close();
  r.log.info("stopped");
}
