// The collector program: configuration, CA, the STATE_DIR lock, the logs read back, then the
// loop (loop.ts) until stopped or, with --once, one check. Failures to start are MailerErrors;
// the entry point prints them and exits.
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { MailerError, messageOf } from "../shared/errors";
import { createLogger, type Say } from "../shared/log";
import { isLoopback } from "../shared/net";
import { describeAuth, openOAuth2, type OAuth2Session } from "../shared/oauth2/session";
import { makeRedactor } from "../shared/redact";
import { onStopSignals } from "../shared/shutdown";
import { acquireCollectorLock } from "./checkpoint";
import { Collector, type CheckResult, type Progress } from "./collector";
import type { MailboxInfo } from "./imap-mailbox";
import { readCheckpoint } from "./checkpoint";
import { MAILBOX, openRemote, type Remote } from "./remote";
import type { CollectorFlags, RunCollectorOptions } from "./index";
import { CollectorLog } from "./log";
import { runLoop, summary } from "./loop";
import { ParsePool } from "./parse-pool";
import { ProgressLine } from "./progress";

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

/** --json --once: one object on stdout (README "Collector and logs"). `pending` is null when unknown. */
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
  const releaseLock = acquireCollectorLock(config.stateDir);
  try {
    const log = await openLog(config.logDir, io);
    try {
      const remote = openRemote(config, ca, oauth2, flags.debug ? io.trace : undefined);
      try {
        return await watch(config, remote, log, flags, io, o);
      } finally {
        remote.close();
      }
    } finally {
      log.close();
    }
  } finally {
    releaseLock();
  }
}

/** Reads both logs back (what is already done) and opens them for append. */
async function openLog(logDir: string, io: Io): Promise<CollectorLog> {
  const log = new CollectorLog(logDir);
  try {
    await log.load();
  } catch (err) {
    throw new MailerError("local", `cannot read or open the logs in LOG_DIR=${logDir}: ${messageOf(err)} — check that the directory is writable`);
  }
  if (log.badLines > 0) io.err(`note: ${log.badLines} line(s) in the logs are not collector entries (hand edits or a line cut by a crash); ignored.`, "bad-lines", { lines: log.badLines });
  return log;
}

async function watch(config: Config, remote: Remote, log: CollectorLog, flags: CollectorFlags, io: Io, o: RunCollectorOptions): Promise<number> {
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
  const pool = new ParsePool({ workerUrl: o.workerUrl });
  let progress: Progress | null = null;
  const collector = new Collector({
    account: remote.account,
    mailboxName: MAILBOX,
    stateDir: config.stateDir,
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
      onReady: (info) => announce(config, remote, info, flags, io),
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
function announce(config: Config, remote: Remote, info: MailboxInfo, flags: CollectorFlags, io: Io): void {
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
  if (remote.firstRunNote && !flags.all && !hasCheckpointFor(config.stateDir, remote.account)) io.out(remote.firstRunNote, "first-run");
}

function hasCheckpointFor(stateDir: string, account: string): boolean {
  try {
    return readCheckpoint(stateDir)?.account === account;
  } catch {
    return false;
  }
}
