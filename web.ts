// bun web.ts (bun run web) — the tickets dashboard and web form (README "Web pages"). Thin:
// arguments, configuration, start, one banner, stop on a signal. The work is in lib/web/.
import { configOrExit } from "./lib/shared/cli";
import { EXIT } from "./lib/shared/errors";
import { runCommand, type CommandSpec } from "./lib/shared/args";
import { startWeb, webBanner, webExposureWarning } from "./lib/web";

const SPEC: CommandSpec = {
  program: "web.ts",
  usage: `Usage: bun web.ts

Serves on WEB_HOST:WEB_PORT (default 127.0.0.1:8026) a read-only dashboard of LOG_DIR
(tickets newest first, search, each ticket's thread, the error log, tickets per day, live
updates as the collector appends) and a web form that sends a ticket to the server on
SERVER_HOST:SERVER_PORT. Bound to anything but loopback it needs WEB_PASSWORD (HTTP Basic).
Configuration: .env / .env.local, see README "Configuration" and "Web pages".

  --help      this text
  --version   the version`,
  options: {},
};

const code = await runCommand(SPEC, Bun.argv.slice(2), async () => {
  const config = configOrExit("web");
  const web = startWeb(config);
  for (const line of webBanner(config, web)) console.log(line);
  const warning = webExposureWarning(config);
  if (warning) console.error(warning);
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => resolve());
  });
  await web.stop();
  return EXIT.OK;
});
process.exit(code);
