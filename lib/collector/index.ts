// The collector's public surface: its command line and the function that runs it. Light on
// purpose — imapflow and mailparser load only when the collector really starts (program.ts),
// so `bun collector.ts --help` starts as fast as Bun itself.
import type { CommandLine, CommandSpec } from "../shared/args";
import { MailerError } from "../shared/errors";

const USAGE = `Usage: bun collector.ts [--once [--json]] [--all] [--debug] [--check]

Watches the INBOX of EMAIL_LOGIN on IMAP_HOST:IMAP_PORT (or POP3_HOST:POP3_PORT with
MAIL_PROTOCOL=pop3) and appends each new message, as one JSON line, to LOG_DIR/success_request.log (subject "[Ticket #<n>] Mailer", also after Re:/Fwd:)
or LOG_DIR/error_request.log (everything else, with a reason). Checks every PERIOD_CHECK
seconds, and at once when new mail arrives if the server offers IDLE. Mail is never marked
as read; what is new is tracked by UID in the store in STATE_DIR (bun run state shows it).

  --once     run one check and exit (0 = done)
  --json     with --once: print one JSON object on stdout, every other line on stderr:
             {"logged":3,"tickets":2,"others":1,"skipped":0,"pending":0,"errors":[]}
  --all      also take older messages not logged yet (the first run otherwise takes only
             the unread ones)
  --debug    print the IMAP/POP3 conversation on stderr (the password is masked)
  --check    connect and log in to IMAP, open the INBOX read-only, say what works, and exit:
             0 it works, 2 wrong login, certificate or TLS setting, 3 unreachable
  --help     this text
  --version  print the version

Exit codes: 0 done or stopped by Ctrl-C/SIGTERM/SIGHUP; 1 the logs or state could not be written;
2 configuration, wrong password or untrusted certificate; 3 mail server unreachable (--once);
130 a second Ctrl-C/SIGTERM/SIGHUP (exits at once). Lines carry a timestamp; LOG_FORMAT=json
prints them as JSON Lines. On a terminal a long collection shows one live progress line.
Configuration: .env / .env.local, see docs/configuration.md "Configuration" and "Collector and logs".`;

export const COLLECTOR_COMMAND: CommandSpec = {
  program: "collector.ts",
  usage: USAGE,
  options: { once: { type: "boolean" }, all: { type: "boolean" }, debug: { type: "boolean" }, check: { type: "boolean" }, json: { type: "boolean" } },
  jsonError: (_code, error) => ({ logged: 0, tickets: 0, others: 0, skipped: 0, pending: null, errors: [error] }),
};

export interface CollectorFlags {
  once: boolean;
  all: boolean;
  debug: boolean;
  /** --json (with --once): the summary as one JSON object on stdout */
  json: boolean;
}

export interface RunCollectorOptions {
  /** the entry point's process.exit, for a second stop signal */
  exit(code: number): void;
  /** where the parse worker is (the entry point knows; default: next to parse-pool.ts) */
  workerUrl?: string;
}

/** Runs the collector for a parsed command line; resolves to the exit code. */
export async function runCollector(line: CommandLine, o: RunCollectorOptions): Promise<number> {
  if (line.values.check === true) return await (await import("./check")).runCollectorCheck();
  const v = line.values;
  if (v.json === true && v.once !== true) throw new MailerError("usage", "--json needs --once (it prints the summary of one check)");
  const { runCollectorProgram } = await import("./program");
  return await runCollectorProgram({ once: v.once === true, all: v.all === true, debug: v.debug === true, json: v.json === true }, o);
}
