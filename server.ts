// bun server.ts [--debug] — the Mailer ticket server (README "Running it"). The program is
// lib/server; this file only runs it and exits with its code.
import { runCommand } from "./lib/shared/args";
import { SERVER_COMMAND, runServer } from "./lib/server";

process.exit(await runCommand(SERVER_COMMAND, Bun.argv.slice(2), (line) => runServer(line, { exit: (code) => process.exit(code) })));
