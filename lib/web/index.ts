// lib/web: the tickets dashboard and the web form (`bun run web`). Public surface for web.ts,
// the dev stack and tests; the sandbox's web inbox (lib/sandbox/web.ts) shares ./http and ./html.
import type { Config } from "../shared/config";
import { MailerError } from "../shared/errors";
import { isLoopback } from "../shared/net";
import { startWebServer, type WebOptions, type WebServer } from "./server";

export { startWebServer, type WebOptions, type WebServer } from "./server";
export { escapeHtml, html } from "./html";
export { LogFile, readBackwards } from "./log-file";

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
