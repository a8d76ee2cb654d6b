// The collector's public surface: its command line and the function that runs it. Light on
// purpose — imapflow and mailparser load only when the collector really starts (program.ts),
// so `bun collector.ts --help` starts as fast as Bun itself.
import type { CommandLine, CommandSpec } from "../shared/args";

const USAGE = `Usage: bun collector.ts [--once] [--all] [--debug]

Watches the INBOX of EMAIL_LOGIN on IMAP_HOST:IMAP_PORT and appends each new message, as one
JSON line, to LOG_DIR/success_request.log (subject "[Ticket #<n>] Mailer", also after Re:/Fwd:)
or LOG_DIR/error_request.log (everything else, with a reason). Checks every PERIOD_CHECK
seconds, and at once when new mail arrives if the server offers IDLE. Mail is never marked
as read; what is new is tracked by UID in the store in STATE_DIR (bun run state shows it).

  --once     run one check and exit (0 = done)
  --all      also take older messages not logged yet (the first run otherwise takes only
             the unread ones)
  --debug    print the IMAP conversation on stderr (the password is masked)
  --help     this text
  --version  print the version

Exit codes: 0 done or stopped by Ctrl-C/SIGTERM/SIGHUP; 1 the logs or state could not be written;
2 configuration, wrong password or untrusted certificate; 3 IMAP server unreachable (--once);
130 a second Ctrl-C/SIGTERM/SIGHUP (exits at once).
Configuration: .env / .env.local, see README "Configuration" and "Collector and logs".`;

export const COLLECTOR_COMMAND: CommandSpec = {
  program: "collector.ts",
  usage: USAGE,
  options: { once: { type: "boolean" }, all: { type: "boolean" }, debug: { type: "boolean" } },
};

export interface CollectorFlags {
  once: boolean;
  all: boolean;
  debug: boolean;
}

export interface RunCollectorOptions {
  /** the entry point's process.exit, for a second stop signal */
  exit(code: number): void;
}

/** Runs the collector for a parsed command line; resolves to the exit code. */
export async function runCollector(line: CommandLine, o: RunCollectorOptions): Promise<number> {
  const { runCollectorProgram } = await import("./program");
  const v = line.values;
  return await runCollectorProgram({ once: v.once === true, all: v.all === true, debug: v.debug === true }, o);
}
