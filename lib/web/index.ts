// lib/web: the tickets dashboard and the web form (`bun run web`). The public surface is light:
// the command line and a run function that loads the server only when it runs. The sandbox's
// web inbox (lib/sandbox/web.ts) shares ./http and ./html.
import type { CommandSpec } from "../shared/args";

export type { WebOptions, WebServer } from "./server";

export const WEB_COMMAND: CommandSpec = {
  program: "web.ts",
  usage: `Usage: bun web.ts

Serves on WEB_HOST:WEB_PORT (default 127.0.0.1:8026) a read-only dashboard of LOG_DIR
(tickets newest first, search, each ticket's thread, the error log, tickets per day, live
updates as the collector appends) and a web form that sends a ticket to the server on
SERVER_HOST:SERVER_PORT. Bound to anything but loopback it needs WEB_PASSWORD (HTTP Basic).
Configuration: .env / .env.local, see docs/configuration.md "Configuration" and "Web pages".

Stops cleanly on Ctrl-C, SIGTERM or SIGHUP; a second signal exits at once (130).

  --help      this text
  --version   the version`,
  options: {},
};

export async function runWeb(o: { exit(code: number): void }): Promise<number> {
  const { runWebProgram } = await import("./program");
  return runWebProgram(o);
}
