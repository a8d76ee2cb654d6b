// bun client.ts — asks for an email address and a message and gets a ticket from the server
// (docs/client.md "Client"). The program is lib/client; this file only runs it and exits.
import { runCommand } from "./lib/shared/args";
import { CLIENT_COMMAND, runClient } from "./lib/client";

process.exit(await runCommand(CLIENT_COMMAND, Bun.argv.slice(2), (line) => runClient(line, { exit: (code) => process.exit(code) })));
