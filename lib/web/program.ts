// `bun run web` as a program: configuration, the server, one banner, the exposure warning, and a
// clean stop on a signal (lib/shared/shutdown.ts).
import type { Config } from "../shared/config";
import { loadConfigOrThrow } from "../shared/cli";
import { EXIT, MailerError } from "../shared/errors";
import { onStopSignals } from "../shared/shutdown";
import { isLoopback } from "../shared/net";
import { startWebServer, type WebOptions, type WebServer } from "./server";


/** The warning printed when the web process can be reached from other machines; null on loopback. */
export function webExposureWarning(config: Config): string | null {
  if (isLoopback(config.webHost)) return null;
  return (
    `WARNING: the dashboard and form listen on ${config.webHost}, not only on this machine: anyone who can reach it and knows WEB_PASSWORD can read every logged ticket and send tickets as ${config.adminEmail}. ` +
    `HTTP Basic sends the password in clear text: put an HTTPS proxy in front of it. ` +
    (config.webFrontendSecret ? "" : "WEB_FRONTEND_SECRET is not set: every form request counts against this host's address in RATE_LIMIT_PER_MINUTE.")
  );
}

/** The lines web.ts prints on start: where it is, what it reads, where the form sends. */
export function webBanner(config: Config, web: WebServer): string[] {
  const perPerson = config.webFrontendSecret
    ? "each browser's address is signed for the server's per-client limit (WEB_FRONTEND_SECRET)"
    : "no WEB_FRONTEND_SECRET: the server counts all form requests against this host's address; the per-recipient limit still binds";
  return [
    `Mailer dashboard on ${web.url} (logs ${config.logDir}; read-only)`,
    `web form on ${web.url}new → server ${config.serverHost}:${config.serverPort}; ${perPerson}`,
  ];
}

/** Starts the web process's server; a port problem becomes a config error naming the key. */
export function startWeb(config: Config, opts: WebOptions = {}): WebServer {
  try {
    return startWebServer(config, opts);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EADDRINUSE" ? "is already in use" : code === "EADDRNOTAVAIL" ? "is not an address of this machine" : `cannot be used (${code ?? (err as Error).message})`;
    throw new MailerError("config", `web: WEB_HOST:WEB_PORT ${config.webHost}:${config.webPort} ${why} — change WEB_HOST/WEB_PORT in .env.local or stop the other program`);
  }
}

/** Serves until a stop signal; resolves to the exit code. */
export async function runWebProgram(o: { exit(code: number): void }): Promise<number> {
  const config = loadConfigOrThrow("web");
  const web = startWeb(config);
  for (const line of webBanner(config, web)) console.log(line);
  const warning = webExposureWarning(config);
  if (warning) console.error(warning);
  await new Promise<void>((resolve) => onStopSignals({ stop: () => resolve(), exit: o.exit, log: (line) => console.error(line) }));
  await web.stop();
  return EXIT.OK;
}
