// What the server says when it starts: the readiness line that people, tests and the demo wait
// for ("listening on"), and the warning printed when it is reachable from other machines.
import { usesImplicitTls, type Config } from "../shared/config";
import { isLoopback } from "../shared/net";

export function readinessLine(config: Config, port: number): string {
  const security = usesImplicitTls(config.smtp, 465) ? "implicit TLS" : config.smtp.security === "starttls" ? "STARTTLS required" : "STARTTLS when offered";
  return (
    `Mailer server listening on ${config.serverHost}:${port} (SMTP ${config.smtp.host}:${config.smtp.port} ${security}, pool ${config.smtpPoolSize}; ` +
    `admin ${config.adminEmail}; state ${config.stateDir}; ${limitsText(config)})`
  );
}

function limitsText(config: Config): string {
  const perClient = config.rateLimitPerMinute ? `${config.rateLimitPerMinute} tickets/min per client` : "no per-client limit";
  const perRecipient = config.recipientLimitPerHour ? `${config.recipientLimitPerHour} tickets/h per recipient` : "no per-recipient limit";
  return `${perClient}, ${perRecipient}`;
}

/** A warning when the server can be reached from other machines; null on loopback. */
export function exposureWarning(config: Config): string | null {
  if (isLoopback(config.serverHost)) return null;
  return (
    `WARNING: listening on ${config.serverHost}, not only on this machine: anyone who can reach it can make this server send mail as ${config.adminEmail}. ` +
    `Limits in force: RATE_LIMIT_PER_MINUTE=${config.rateLimitPerMinute} tickets per client address, RECIPIENT_LIMIT_PER_HOUR=${config.recipientLimitPerHour} per recipient ` +
    `(0 = off), MAX_CONNECTIONS=${config.maxConnections}, MAX_CONNECTIONS_PER_IP=${config.maxConnectionsPerIp}, MAX_REQUEST_BYTES=${config.maxRequestBytes}, IDLE_TIMEOUT=${config.idleTimeout} s.` +
    (config.rateLimitPerMinute && config.recipientLimitPerHour ? "" : " A rate limit is OFF: set it above 0 before exposing the server.")
  );
}
