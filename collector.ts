// bun collector.ts [--once] [--all] [--debug] — watches the admin's IMAP inbox and appends
// every new message to LOG_DIR/success_request.log (ticket subjects) or error_request.log.
// The work is in lib/collector-core.ts (one check) and lib/collector-loop.ts (the loop).
import { parseArgs } from "node:util";
import { configOrExit, EXIT, fail } from "./lib/shared/cli";
import { CheckpointError, acquireCollectorLock } from "./lib/collector/checkpoint";
import { Collector } from "./lib/collector/collector";
import { runLoop } from "./lib/collector/loop";
import { CollectorLog } from "./lib/collector/log";
import { ImapMailbox } from "./lib/collector/imap-mailbox";
import { POP3_FIRST_RUN_NOTE, pop3Remote } from "./lib/collector/pop3/remote";
import { readCheckpoint } from "./lib/collector/checkpoint";
import { ParsePool } from "./lib/collector/parse-pool";
import { makeRedactor } from "./lib/shared/redact";
import { caOrExit, isIpHost } from "./lib/shared/tls";

const HELP = `Usage: bun collector.ts [--once] [--all] [--debug]

Watches the INBOX of EMAIL_LOGIN on IMAP_HOST:IMAP_PORT (or POP3_HOST:POP3_PORT with
MAIL_PROTOCOL=pop3) and appends each new message, as one
JSON line, to LOG_DIR/success_request.log (subject "[Ticket #<n>] Mailer", also after Re:/Fwd:)
or LOG_DIR/error_request.log (everything else, with a reason). Checks every PERIOD_CHECK
seconds, and at once when new mail arrives if the server offers IDLE. Mail is never marked
as read; what is new is tracked by UID in STATE_DIR/collector-checkpoint.json.

  --once    run one check and exit (0 = done)
  --all     also take older messages not logged yet (the first run otherwise takes only
            the unread ones)
  --debug   print the IMAP/POP3 conversation on stderr (the password is masked)
  --help    this text

Exit codes: 0 done or stopped by Ctrl-C/SIGTERM; 1 the logs or state could not be written;
2 configuration, wrong password or untrusted certificate; 3 IMAP server unreachable (--once).
Configuration: .env / .env.local, see README "Configuration" and "Collector and logs".`;

let args;
try {
  args = parseArgs({
    args: Bun.argv.slice(2),
    options: { once: { type: "boolean" }, all: { type: "boolean" }, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
  }).values;
} catch (err) {
  fail(`${(err as Error).message}\nTry: bun collector.ts --help`, EXIT.USAGE);
}
if (args.help) {
  console.log(HELP);
  process.exit(EXIT.OK);
}

const config = configOrExit("collector");
const ca = caOrExit(config, "collector");

const mailboxName = "INBOX";
const redact = makeRedactor(config.emailLogin, config.emailPassword);
const debug = args.debug ? (line: string) => console.error(redact(line)) : undefined;
const pop3 = config.mailProtocol === "pop3" ? pop3Remote(config, ca, debug) : null;
const { host, port } = pop3?.endpoint ?? config.imap;
const out = (line: string) => console.log(redact(line));
const err = (line: string) => console.error(redact(line));

let releaseLock: () => void = () => {};
try {
  releaseLock = acquireCollectorLock(config.stateDir);
} catch (e) {
  fail(e instanceof CheckpointError ? e.message : String(e), EXIT.USAGE);
}

const log = new CollectorLog(config.logDir);
try {
  await log.load();
} catch (e) {
  releaseLock();
  fail(`cannot read or open the logs in LOG_DIR=${config.logDir}: ${(e as Error).message} — check that the directory is writable`, EXIT.REFUSED);
}
if (log.badLines > 0) err(`note: ${log.badLines} line(s) in the logs are not collector entries (hand edits or a line cut by a crash); ignored.`);

const stop = new AbortController();
let signals = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (++signals > 1) {
      err("Stopping now (second signal).");
      process.exit(130);
    }
    if (!args.once) err(`${sig}: finishing the message in hand, then stopping.`);
    stop.abort();
  });
}

const pool = new ParsePool();
const collector = new Collector({
  account: pop3?.account ?? `${config.emailLogin}@${host}:${port}/${mailboxName}`,
  mailboxName,
  stateDir: config.stateDir,
  log,
  pool,
  all: args.all === true,
  out,
  shouldStop: () => stop.signal.aborted,
});

const code = await runLoop({
  connect: pop3?.connect ?? (() =>
    ImapMailbox.connect({
      endpoint: config.imap,
      login: config.emailLogin,
      password: config.emailPassword,
      ca,
      path: mailboxName,
      debug,
    })),
  collector,
  periodMs: config.periodCheck * 1000,
  once: args.once === true,
  stop: stop.signal,
  out,
  err,
  where: { login: config.emailLogin, host, port, mailbox: mailboxName, protocol: pop3?.protocol },
  onReady: (info) => {
    const how = args.once ? "checking" : "watching";
    const mode = args.once ? "one check" : info.idle ? `IDLE, every ${config.periodCheck} s` : `every ${config.periodCheck} s; ${pop3 ? "POP3 has" : "the server offers"} no IDLE`;
    out(`Mailer collector ${how} ${config.emailLogin} ${mailboxName} on ${host}:${port} (${info.tls ? "TLS" : "no TLS"}, ${mode}) → ${config.logDir}/`);
    if (!info.tls && !isLoopback(host)) {
      const [key, tlsPort] = pop3 ? ["POP3_SECURE", 995] : ["IMAP_SECURE", 993];
      err(`warning: the connection to ${host}:${port} is not encrypted (the server offers no STARTTLS) — set ${key}=starttls to require it, or use port ${tlsPort}`);
    }
    if (pop3 && !args.all && readCheckpointQuiet()?.account !== pop3.account) out(POP3_FIRST_RUN_NOTE);
  },
});

pool.close();
log.close();
pop3?.close();
releaseLock();
process.exit(code);

function readCheckpointQuiet() {
  try {
    return readCheckpoint(config.stateDir);
  } catch {
    return null;
  }
}

function isLoopback(h: string): boolean {
  return h === "localhost" || h === "::1" || (isIpHost(h) && h.startsWith("127."));
}
