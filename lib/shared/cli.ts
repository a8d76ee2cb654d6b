// What every program does at start: read the configuration for its role and the CA file it
// names. Problems become one MailerError of kind "config" (exit 2) listing every problem.
import { MailerError, messageOf } from "./errors";
import { loadConfig, type Config, type Role } from "./config";
import { loadCa } from "./tls";
import { misspeltKeyWarnings } from "./env-files";

export { EXIT } from "./errors";

/**
 * The configuration for `role`, or a MailerError listing every problem. Warnings — a malformed
 * key this role does not use, a misspelt key in .env/.env.local — go to `warn` (stderr).
 */
export function loadConfigOrThrow(role: Role, env: Record<string, string | undefined> = process.env, warn: (line: string) => void = (l) => console.error(l)): Config {
  const result = loadConfig(env, role);
  for (const w of [...result.warnings, ...misspeltKeyWarnings()]) warn(`warning: ${w}`);
  if (result.ok) return result.config;
  const n = result.errors.length;
  const lines = [`Configuration error (${role}): ${n} problem${n > 1 ? "s" : ""} in the environment / .env / .env.local:`, ...result.errors.map((e) => `  - ${e}`)];
  throw new MailerError("config", lines.join("\n"));
}

/** TLS_CA_FILE read once at start; an unreadable or non-PEM file is a configuration error. */
export function loadCaOrThrow(config: Config, role: Role): string[] | undefined {
  try {
    return loadCa(config.tlsCaFile);
  } catch (err) {
    throw new MailerError("config", `Configuration error (${role}): ${messageOf(err)}`);
  }
}
