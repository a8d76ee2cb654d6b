// Small helpers shared by the three entry points: configuration errors end with exit code 2
// and a list of every problem, never a stack trace.
import { loadConfig, type Config, type Role } from "./config";

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNREACHABLE: 3 } as const;

export function configOrExit(role: Role, env: Record<string, string | undefined> = process.env): Config {
  const result = loadConfig(env, role);
  if (result.ok) return result.config;
  console.error(`Configuration error (${role}): ${result.errors.length} problem${result.errors.length > 1 ? "s" : ""} in the environment / .env / .env.local:`);
  for (const e of result.errors) console.error(`  - ${e}`);
  process.exit(EXIT.USAGE);
}

export function fail(message: string, code: number): never {
  console.error(message);
  process.exit(code);
}
