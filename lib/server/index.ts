// The server's public surface: its command line and the function that runs it. Light on
// purpose — nodemailer and the rest load only when the server really starts (program.ts), so
// `bun server.ts --help` starts as fast as Bun itself.
import type { CommandLine, CommandSpec } from "../shared/args";

const USAGE = `Usage: bun server.ts [--debug] [--check]

Listens on SERVER_HOST:SERVER_PORT for ticket requests (one JSON object per line, see README
"Wire protocol"), mails each message to the person and to ADMIN_EMAIL, answers with the ticket
number. Configuration comes from .env / .env.local / the environment (docs/configuration.md "Configuration").

  --debug    also print the SMTP conversation (passwords masked) on stderr
  --check    connect and log in to SMTP with this configuration, say what works, and exit:
             0 it works, 2 wrong login, certificate or TLS setting, 3 unreachable
  --help     this text
  --version  print the version

Stops cleanly (answers the requests in flight) on Ctrl-C, SIGTERM or SIGHUP; a second one
exits at once (130).`;

export const SERVER_COMMAND: CommandSpec = {
  program: "server.ts",
  usage: USAGE,
  options: { debug: { type: "boolean" }, check: { type: "boolean" } },
};

export interface RunServerOptions {
  /** the entry point's process.exit, for a second stop signal */
  exit(code: number): void;
}

/** Runs the server for a parsed command line; resolves to the exit code once it has stopped. */
export async function runServer(line: CommandLine, o: RunServerOptions): Promise<number> {
  if (line.values.check === true) return await (await import("./check")).runServerCheck();
  const { runServerProgram } = await import("./program");
  return await runServerProgram({ debug: line.values.debug === true }, o);
}
