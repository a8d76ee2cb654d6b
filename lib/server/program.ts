// The server as a program (README "Running it", "The server"): reads the configuration, opens
// the store, wires the sender, the outbox, the ticket service and the TCP listener together,
// prints one line per request, and stops cleanly on a signal. Start-up failures are thrown as
// MailerErrors; runCommand prints them and the entry point exits with their code.
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { EXIT, isMailerError, MailerError, messageOf } from "../shared/errors";
import { createLogger, type Logger } from "../shared/log";
import { describeAuth, openOAuth2, signInAtStart, type OAuth2Session } from "../shared/oauth2/session";
import { makeRedactor } from "../shared/redact";
import { onStopSignals, type StopSignal } from "../shared/shutdown";
import type { Reply } from "../wire/protocol";
import { exposureWarning, readinessLine } from "./banner";
import { Outbox } from "./outbox";
import { LogSummary } from "./log-summary";
import { RateLimiter } from "./rate-limit";
import { NodemailerSender } from "./smtp";
import { TcpServer, type Peer } from "./tcp-server";
import { TicketService, type Outcome } from "./ticket-service";
import { openStore, type Store } from "../store";
import type { OutboxSummary } from "../store/types";

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
  store: Store;
  summary: LogSummary;
}

/** Starts the server; resolves to the exit code once a stop signal has stopped it. */
export async function runServerProgram(flags: ServerFlags, o: { exit(code: number): void }): Promise<number> {
  const config = loadConfigOrThrow("server");
  const ca = loadCaOrThrow(config, "server");
  const oauth2 = openOAuth2(config);
  const log = serverLog(config, makeRedactor(config.emailLogin, config.emailPassword, oauth2?.secrets));
  const store = await openStore({ stateDir: config.stateDir, logDir: config.logDir, databaseUrl: config.stateDatabaseUrl, application: "mailer-server" });
  for (const notice of store.notices) log.info("store", notice);
  try {
    await signIn(oauth2, log);
  } catch (err) {
    await store.close();
    throw err;
  }
  const sender = new NodemailerSender({
    smtp: config.smtp,
    login: config.emailLogin,
    password: config.emailPassword,
    poolSize: config.smtpPoolSize,
    timeoutSec: config.smtpTimeout,
    ca,
    redact: log.redact,
    debugLog: flags.debug ? (line) => console.error(line) : undefined,
    oauth2: oauth2 ?? undefined,
  });
  // a send is bounded by a few SMTP_TIMEOUT steps; a copy is protected for well beyond that
  const outboxLog = { info: (line: string) => log.info("outbox", line), error: (line: string) => log.error("outbox", line) };
  const outbox = new Outbox(store.tickets, sender, outboxLog, { claimMs: 10 * config.smtpTimeout * 1000, retrySeconds: config.outboxRetry });
  const summary = new LogSummary((line, fields) => log.info("summary", line, fields));
  let tcp: TcpServer;
  try {
    tcp = listen(config, ticketService(config, sender, outbox, store, log), log, summary);
  } catch (err) {
    summary.stop();
    await store.close();
    throw err;
  }
  const recovered = await outbox.recover();
  const queue = await outbox.summary();
  outbox.start();
  const running: Running = { config, log, tcp, outbox, sender, store, summary };
  return await new Promise<number>((resolve, reject) => {
    onStopSignals({
      stop: (signal) => stop(running, signal).then(() => resolve(EXIT.OK), reject),
      exit: o.exit,
      log: (line) => log.warn("signal", line),
    });
    // ready only once a stop signal is handled: a signal right after the line stops cleanly
    announce(config, tcp, store, log, queue, recovered);
  });
}

function serverLog(config: Config, redact: (text: string) => string): ServerLog {
  const logger = createLogger({ format: config.logFormat, redact });
  return { ...logger, redact, errorLine: (line) => logger.error("server", line) };
}

/** With OAuth2, a token must be obtainable before the server says it is ready: a revoked sign-in
 *  or a refused client ends the start (exit 2); an unreachable token endpoint only warns. */
async function signIn(oauth2: OAuth2Session | null, log: ServerLog): Promise<void> {
  if (!oauth2) return;
  try {
    const note = await signInAtStart(oauth2);
    if (note) log.plain("sign-in", note, {}, "warn");
  } catch (err) {
    const message = `server: cannot start: ${log.redact(messageOf(err))}`;
    throw isMailerError(err) ? new MailerError(err.kind, message, { cause: err }) : new MailerError("config", message, { cause: err });
  }
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
    logError: log.errorLine,
    frontendSecret: config.webFrontendSecret,
    adminWaitMs: config.smtpTimeout * 1000,
  });
}

/** Binds SERVER_HOST:SERVER_PORT; every request is answered by the service and logged. */
function listen(config: Config, service: TicketService, log: ServerLog, summary: LogSummary): TcpServer {
  const requests = requestLog(log, summary);
  const tcp = new TcpServer({
    host: config.serverHost,
    port: config.serverPort,
    maxRequestBytes: config.maxRequestBytes,
    idleTimeoutSec: config.idleTimeout,
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    proxyProtocol: config.proxyProtocol,
    async handle(line, peer) {
      const started = performance.now();
      const outcome = await service.handle(line, peer.ip);
      requests(peer, outcome.reply, outcome, Math.round(performance.now() - started));
      return outcome.reply;
    },
    onLocalReply: (peer, reply) => requests(peer, reply),
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

/**
 * One line per request: time, peer, outcome. Never the message text, never a secret. A peer
 * repeating one refusal is summarised (log-summary.ts): a flood cannot fill the disk.
 */
function requestLog(log: ServerLog, summary: LogSummary): (peer: Peer, reply: Reply, outcome?: Outcome, ms?: number) => void {
  return (peer, reply, outcome, ms) => {
    const took = ms === undefined ? "" : ` ${ms}ms`;
    if (reply.status === "OK") {
      const admin = outcome?.admin ?? "?";
      log.info("request", `${peer.label} OK ticket=${reply.ticket} admin=${admin}${took}`, { peer: peer.label, status: "OK", ticket: reply.ticket, admin, ms });
      return;
    }
    const reason = reply.code === "MAIL_FAILED" || reply.code === "INTERNAL" ? log.redact(outcome?.detail ?? reply.error) : "";
    const what = `ERROR ${reply.code}${reason ? ` (${reason})` : ""}`;
    const line = `${peer.label} ${what}${took}`;
    summary.report(`${peer.ip} ${what}`, `${peer.ip} ${what}`, line, () =>
      log.info("request", line, { peer: peer.label, status: "ERROR", code: reply.code, error: reason || undefined, ms }),
    );
  };
}

/** The readiness line people and tests wait for, then what needs attention. */
function announce(config: Config, tcp: TcpServer, store: Store, log: ServerLog, summary: OutboxSummary, recovered: number): void {
  log.plain("listening", readinessLine(config, tcp.port), { host: config.serverHost, port: tcp.port });
  if (config.authMethod === "oauth2") log.plain("sign-in", `sign-in: ${describeAuth(config)}`, { method: "oauth2" });
  const warning = exposureWarning(config);
  if (warning) log.plain("exposed", warning, {}, "warn");
  for (const dead of summary.deadLetters) {
    log.warn("dead-letter", `WARNING: dead letter in ${store.description}: the admin copy of ticket ${dead.ticket} was refused permanently (${dead.lastError}) — it is not retried; \`bun run state --requeue ${dead.ticket}\` sends it again`, { ticket: dead.ticket });
  }
  const queued = summary.ready + summary.held + summary.sending;
  if (queued) log.info("outbox", `outbox: ${queued} admin copies queued from before${recovered ? ` (${recovered} left by a server that stopped)` : ""}; retrying now and every ${config.outboxRetry} s`, { queued, recovered });
}

/**
 * The clean stop, within 2 × SMTP_TIMEOUT + 5 s whatever the SMTP server does: requests in
 * flight get up to 2 × SMTP_TIMEOUT to be answered; then what is still sending is ended (the
 * person gets MAIL_FAILED, an admin copy stays queued in the store for the next start); then
 * the outbox is settled and the store closed.
 */
async function stop(r: Running, signal: StopSignal): Promise<void> {
  r.log.info("stopping", `${signal}: no new connections; answering the requests in flight`, { signal });
  const waitMs = 2 * r.config.smtpTimeout * 1000;
  const answered = r.tcp.stop(waitMs + 3000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([answered, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  await r.sender.close({ force: true });
  await answered;
  await r.outbox.stop();
  r.summary.stop();
  await r.store.close();
  r.log.info("stopped", "stopped");
}
