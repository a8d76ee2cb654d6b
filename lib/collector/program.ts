// The collector program: configuration, CA, the store, LOG_DIR taken (lease + marker), the logs
// reconciled with their index, then the loop (loop.ts) until stopped or, with --once, one
// check. Failures to start are MailerErrors; the entry point prints them and exits.
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { isMailerError, MailerError, messageOf } from "../shared/errors";
import { createLogger, type Say } from "../shared/log";
import { isLoopback } from "../shared/net";
import { describeAuth, openOAuth2, type OAuth2Session } from "../shared/oauth2/session";
import { makeRedactor } from "../shared/redact";
import { onStopSignals } from "../shared/shutdown";
import { Collector, type CheckResult, type Progress } from "./collector";
import type { MailboxInfo } from "./imap-mailbox";
import { MAILBOX, openRemote, type Remote } from "./remote";
import type { CollectorFlags, RunCollectorOptions } from "./index";
import { CollectorLog } from "./log";
import { runLoop, summary } from "./loop";
import { takeLogDir, type LogDirOwnership } from "./ownership";
import { mailboxAccount, mailboxScope, rebuildLogs, waitForMailbox } from "./shared-mailbox";
import { ParsePool } from "./parse-pool";
import { ProgressLine } from "./progress";
import { openStore, type Store } from "../store";
import { checkpointKey } from "../store/keys";

interface Io {
  out: Say;
  err: Say;
  /** the failure the collector stops with */
  fatal: Say;
  /** --debug: the IMAP conversation as it is (redacted), on stderr */
  trace: (line: string) => void;
  /** the live progress line, on a terminal only */
  progress: ProgressLine | null;
  /** --json: the one summary line on stdout */
  json: boolean;
}

/** --json --once: one object on stdout (docs/collector.md "Collector and logs"). `pending` is null when unknown. */
export function jsonSummary(r: Pick<CheckResult, "tickets" | "errors" | "skipped"> & { pending: number | null }, errors: string[] = []): string {
  return JSON.stringify({ logged: r.tickets + r.errors, tickets: r.tickets, others: r.errors, skipped: r.skipped, pending: r.pending, errors });
}

/** Timestamped lines (LOG_FORMAT=json: JSON Lines); with --json every line but the summary goes to stderr. */
function collectorIo(config: Config, flags: CollectorFlags, redact: (text: string) => string): Io {
  const progress = process.stdout.isTTY && !flags.json && config.logFormat === "human" ? new ProgressLine((t) => process.stdout.write(t)) : null;
  const print = (write: (line: string) => void) => (line: string) => {
    progress?.clear();
    write(line);
  };
  const logger = createLogger({
    format: config.logFormat,
    redact,
    out: print(flags.json ? (l) => console.error(l) : (l) => console.log(l)),
    err: print((l) => console.error(l)),
  });
  return {
    out: (line, event = "collector", fields) => logger.info(event, line, fields),
    err: (line, event = "collector", fields) => logger.warn(event, line, fields),
    fatal: (line, event = "stopped", fields) => logger.error(event, line, fields),
    trace: print((l) => console.error(redact(l))),
    progress,
    json: flags.json,
  };
}

export async function runCollectorProgram(flags: CollectorFlags, o: RunCollectorOptions): Promise<number> {
  const config = loadConfigOrThrow("collector");
  const ca = loadCaOrThrow(config, "collector");
  const oauth2 = openOAuth2(config);
  const io = collectorIo(config, flags, makeRedactor(config.emailLogin, config.emailPassword, oauth2?.secrets));
  const store = await openStore({ stateDir: config.stateDir, logDir: config.logDir, databaseUrl: config.stateDatabaseUrl, application: "mailer-collector" });
  try {
    for (const notice of store.notices) io.out(notice);
    const shared = config.stateDatabaseUrl ? { scope: mailboxScope(mailboxAccount(config)) } : null;
    const owner = shared ? await takeSharedMailbox(config, store, shared.scope, io, !flags.once) : await takeLogDir(store, config.logDir, config.stateDir);
    try {
      const log = await openLog(config.logDir, store, owner, io, shared);
      try {
        const remote = openRemote(config, ca, oauth2, flags.debug ? io.trace : undefined);
        try {
          return await watch(config, remote, store, log, flags, io, o, shared !== null);
        } finally {
          remote.close();
        }
      } finally {
        log.close();
      }
    } finally {
      await owner.release();
    }
  } finally {
    await store.close();
  }
}

/** Collectors sharing PostgreSQL: stand by until this one holds the mailbox, then make LOG_DIR
 *  a complete copy of the database's record before appending to it. */
async function takeSharedMailbox(config: Config, store: Store, scope: string, io: Io, wait: boolean): Promise<LogDirOwnership> {
  const owner = await waitForMailbox(store, mailboxAccount(config), config.logDir, config.stateDir, io.out, wait);
  try {
    const n = await rebuildLogs(store, scope, config.logDir);
    io.out(`LOG_DIR=${config.logDir} rebuilt from ${store.description}: ${n} entries`);
    return owner;
  } catch (err) {
    await owner.release();
    if (isMailerError(err)) throw err;
    throw new MailerError("local", `cannot rebuild the logs in LOG_DIR=${config.logDir}: ${messageOf(err)} — check that the directory is writable`);
  }
}

/** Opens both logs for append and indexes what a crash left past the indexed offset. */
async function openLog(logDir: string, store: Store, owner: LogDirOwnership, io: Io, shared: { scope: string } | null): Promise<CollectorLog> {
  const log = new CollectorLog(logDir, store.collector, owner, shared);
  try {
    await log.open();
  } catch (err) {
    if (isMailerError(err)) throw err;
    throw new MailerError("local", `cannot read or open the logs in LOG_DIR=${logDir}: ${messageOf(err)} — check that the directory is writable`);
  }
  if (log.badLines > 0) io.err(`note: ${log.badLines} line(s) in the logs are not collector entries (hand edits or a line cut by a crash); ignored.`, "bad-lines", { lines: log.badLines });
  return log;
}

async function watch(config: Config, remote: Remote, store: Store, log: CollectorLog, flags: CollectorFlags, io: Io, o: RunCollectorOptions, shared: boolean): Promise<number> {
  const { host, port } = remote.endpoint;
  const stop = new AbortController();
  const removeSignals = onStopSignals({
    stop: (signal) => {
      if (!flags.once) io.err(`${signal}: finishing the message in hand, then stopping.`, "stopping", { signal });
      stop.abort();
    },
    exit: o.exit,
    log: io.err,
  });
  // shared: one checkpoint per mailbox, whichever host's LOG_DIR the entries are copied to
  const key = shared ? mailboxScope(remote.account) : checkpointKey(remote.account, config.logDir);
  // no checkpoint for this mailbox into this LOG_DIR yet: a first run (the note, POP3)
  const firstRun = !!remote.firstRunNote && !flags.all && !(await hasCheckpointFor(store, key));
  const pool = new ParsePool({ workerUrl: o.workerUrl });
  let progress: Progress | null = null;
  const collector = new Collector({
    key,
    mailboxName: MAILBOX,
    store: store.collector,
    tickets: store.tickets,
    log,
    pool,
    all: flags.all,
    out: io.out,
    shouldStop: () => stop.signal.aborted,
    batchLines: io.progress === null,
    onProgress: (p) => ((progress = p), io.progress?.update(p)),
  });
  try {
    return await runLoop({
      connect: () => remote.connect(),
      collector,
      periodMs: config.periodCheck * 1000,
      once: flags.once,
      stop: stop.signal,
      out: io.out,
      err: io.err,
      where: { login: config.emailLogin, host, port, mailbox: MAILBOX, protocol: remote.protocol },
      onReady: (info) => announce(config, remote, info, flags, io, firstRun),
      report: (r) => (io.json ? console.log(jsonSummary(r)) : io.out(summary(r), "summary", { tickets: r.tickets, others: r.errors, skipped: r.skipped, pending: r.pending })),
      onFatal: (f) => {
        io.fatal(f.message, "stopped", { kind: f.kind });
        // what this check did before it stopped; how much is left only when a check was under way
        const p = progress as Progress | null;
        if (io.json) console.log(jsonSummary({ tickets: p?.tickets ?? 0, errors: p?.others ?? 0, skipped: 0, pending: p ? p.total - p.done : null }, [f.message]));
      },
    });
  } finally {
    pool.close();
    removeSignals();
  }
}

/** The readiness line, and a warning when the mail travels in plain text off this machine. */
function announce(config: Config, remote: Remote, info: MailboxInfo, flags: CollectorFlags, io: Io, firstRun: boolean): void {
  const { host, port } = remote.endpoint;
  const { name, tlsPort } = remote.protocol;
  const how = flags.once ? "checking" : "watching";
  const noIdle = name === "POP3" ? "POP3 has no IDLE" : "the server offers no IDLE";
  const mode = flags.once ? "one check" : info.idle ? `IDLE, every ${config.periodCheck} s` : `every ${config.periodCheck} s; ${noIdle}`;
  io.out(`Mailer collector ${how} ${config.emailLogin} ${MAILBOX} on ${host}:${port} (${info.tls ? "TLS" : "no TLS"}, ${mode}) → ${config.logDir}/`, "ready", {
    protocol: name,
    host,
    port,
    tls: info.tls,
    idle: info.idle,
  });
  if (config.authMethod === "oauth2") io.out(`sign-in: ${describeAuth(config)}`, "sign-in", { method: "oauth2" });
  if (!info.tls && !isLoopback(host)) {
    io.err(`warning: the connection to ${host}:${port} is not encrypted (the server offers no STARTTLS) — set ${name}_SECURE=starttls to require it, or use port ${tlsPort}`, "plaintext");
  }
  if (remote.firstRunNote && firstRun) io.out(remote.firstRunNote, "first-run");
}

async function hasCheckpointFor(store: Store, key: string): Promise<boolean> {
  try {
    return (await store.collector.readCheckpoint(key)) !== null;
  } catch {
    return false;
  }
}
