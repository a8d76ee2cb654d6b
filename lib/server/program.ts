// The server as a program (README "Running it", "The server"): reads the configuration, takes
// STATE_DIR, wires the sender, the outbox, the ticket service and the TCP listener together,
// prints one line per request, and stops cleanly on a signal. Start-up failures are thrown as
// MailerErrors; runCommand prints them and the entry point exits with their code.
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { EXIT, isMailerError, MailerError, messageOf } from "../shared/errors";
import { createLogger, type Logger } from "../shared/log";
import { makeRedactor } from "../shared/redact";
import { onStopSignals, type StopSignal } from "../shared/shutdown";
import type { Reply } from "../wire/protocol";
import { exposureWarning, readinessLine } from "./banner";
import { Outbox } from "./outbox";
import { RateLimiter } from "./rate-limit";
import { NodemailerSender } from "./smtp";
import { TcpServer, type Peer } from "./tcp-server";
import { TicketService, type Outcome } from "./ticket-service";
import { acquireStateLock, TicketAllocator } from "./tickets";

export interface ServerFlags {
  debug: boolean;
}

/** The shared logger (timestamped, or JSON Lines with LOG_FORMAT=json; redacted), the redactor, and the
 *  line-shaped error log the ticket service takes. */
interface ServerLog extends Logger {
  redact(text: string): string;
  errorLine(line: string): void;
}

/** What runs once the server has started, and is stopped in this order. */
interface Running {
  config: Config;
  log: ServerLog;
  tcp: TcpServer;
  outbox: Outbox;
  sender: NodemailerSender;
  tickets: TicketAllocator;
  releaseLock: () => void;
}

/** Starts the server; resolves to the exit code once a stop signal has stopped it. */
export async function runServerProgram(flags: ServerFlags, o: { exit(code: number): void }): Promise<number> {
  const config = loadConfigOrThrow("server");
  const ca = loadCaOrThrow(config, "server");
  const log = serverLog(config, makeRedactor(config.emailLogin, config.emailPassword));
  const { tickets, releaseLock } = openState(config.stateDir);
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
  const outbox = openOutbox(config.stateDir, sender, log, releaseLock);
  const tcp = listen(config, ticketService(config, sender, outbox, tickets, log), log, releaseLock);
  const running: Running = { config, log, tcp, outbox, sender, tickets, releaseLock };
  // The handlers before the readiness line: a supervisor may signal as soon as it reads that
  // line, and a signal without a handler kills the process (exit 129 for SIGHUP).
  const stopped = new Promise<number>((resolve, reject) => {
    onStopSignals({
      stop: (signal) => stop(running, signal).then(() => resolve(EXIT.OK), reject),
      exit: o.exit,
      log: (line) => log.warn("signal", line),
    });
  });
  announce(config, tcp, outbox, log);
  outbox.start(config.outboxRetry);
  return await stopped;
}

function serverLog(config: Config, redact: (text: string) => string): ServerLog {
  const logger = createLogger({ format: config.logFormat, redact });
  return { ...logger, redact, errorLine: (line) => logger.error("server", line) };
}

/** One server per STATE_DIR (the lock), and the ticket numbers kept there. */
function openState(stateDir: string): { tickets: TicketAllocator; releaseLock: () => void } {
  let releaseLock: (() => void) | undefined;
  try {
    releaseLock = acquireStateLock(stateDir);
    return { tickets: new TicketAllocator(stateDir), releaseLock };
  } catch (err) {
    releaseLock?.();
    if (isMailerError(err, "state")) throw new MailerError("state", `server: cannot start: ${err.message}`, { cause: err });
    throw new MailerError("state", `server: cannot use STATE_DIR=${stateDir}: ${messageOf(err)} — check that it is a writable directory`, { cause: err });
  }
}

function openOutbox(stateDir: string, sender: NodemailerSender, log: ServerLog, releaseLock: () => void): Outbox {
  try {
    return Outbox.open(stateDir, sender, { info: (line) => log.info("outbox", line), error: (line) => log.error("outbox", line) });
  } catch (err) {
    releaseLock();
    throw new MailerError("state", `server: cannot open the outbox in STATE_DIR=${stateDir}: ${messageOf(err)}`, { cause: err });
  }
}

function ticketService(config: Config, sender: NodemailerSender, outbox: Outbox, tickets: TicketAllocator, log: ServerLog): TicketService {
  return new TicketService({
    adminEmail: config.adminEmail,
    maxMessageChars: config.maxMessageChars,
    sender,
    outbox,
    issueTicket: () => tickets.issue(),
    perClient: new RateLimiter(config.rateLimitPerMinute, 60_000),
    perRecipient: new RateLimiter(config.recipientLimitPerHour, 3_600_000),
    logError: log.errorLine,
  });
}

/** Binds SERVER_HOST:SERVER_PORT; every request is answered by the service and logged. */
function listen(config: Config, service: TicketService, log: ServerLog, releaseLock: () => void): TcpServer {
  const tcp = new TcpServer({
    host: config.serverHost,
    port: config.serverPort,
    maxRequestBytes: config.maxRequestBytes,
    idleTimeoutSec: config.idleTimeout,
    maxConnections: config.maxConnections,
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
    releaseLock();
    const why = e.code === "EADDRINUSE" ? "the address is already in use (another server on that port?)" : e.code === "EADDRNOTAVAIL" ? "this machine has no such address" : e.message;
    throw new MailerError("config", `server: cannot listen on ${config.serverHost}:${config.serverPort}: ${why} — change SERVER_HOST/SERVER_PORT or stop the other program`, { cause: err });
  }
  return tcp;
}

/** One line per request: time, peer, outcome. Never the message text, never a secret. */
function logRequest(log: ServerLog, peer: Peer, reply: Reply, outcome?: Outcome, ms?: number): void {
  const took = ms === undefined ? "" : ` ${ms}ms`;
  if (reply.status === "OK") {
    const admin = outcome?.admin ?? "?";
    log.info("request", `${peer.label} OK ticket=${reply.ticket} admin=${admin}${took}`, { peer: peer.label, status: "OK", ticket: reply.ticket, admin, ms });
    return;
  }
  const reason = reply.code === "MAIL_FAILED" || reply.code === "INTERNAL" ? reply.error : undefined;
  log.info("request", `${peer.label} ERROR ${reply.code}${reason ? ` (${reason})` : ""}${took}`, { peer: peer.label, status: "ERROR", code: reply.code, error: reason, ms });
}

/** The readiness line people and tests wait for, then what needs attention. */
function announce(config: Config, tcp: TcpServer, outbox: Outbox, log: ServerLog): void {
  log.plain("listening", readinessLine(config, tcp.port), { host: config.serverHost, port: tcp.port });
  const warning = exposureWarning(config);
  if (warning) log.plain("exposed", warning, {}, "warn");
  for (const dead of outbox.deadLetters) {
    log.warn("dead-letter", `WARNING: dead letter in ${outbox.path}: the admin copy of ticket ${dead.ticket} was refused permanently (${dead.dead?.reason}) — it is not retried`, { ticket: dead.ticket });
  }
  if (outbox.pending.length) log.info("outbox", `outbox: ${outbox.pending.length} admin copies queued from before; retrying now and every ${config.outboxRetry} s`, { queued: outbox.pending.length });
}

/** The clean stop: requests in flight answered, the outbox settled, unused numbers given back. */
async function stop(r: Running, signal: StopSignal): Promise<void> {
  r.log.info("stopping", `${signal}: no new connections; answering the requests in flight`, { signal });
  await r.tcp.stop((2 * r.config.smtpTimeout + 5) * 1000);
  await r.outbox.stop();
  await r.sender.close();
  try {
    r.tickets.close();
  } catch (err) {
    r.log.error("tickets", `could not give back the unused ticket numbers (the next start skips them): ${messageOf(err)}`);
  }
  r.releaseLock();
  r.log.info("stopped", "stopped");
}
