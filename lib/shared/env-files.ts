// Misspelt keys in .env / .env.local: Bun loads whatever is there, so `SMTP_PROT=25` would pass
// silently and the program would use the default. The files themselves are read (the
// environment cannot tell which keys came from them) and a key that is not a Mailer key but is
// one or two letters away from one gets a warning. Keys of other tools are left alone.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { knownKeys } from "./config";

/** The files Bun loads from the working directory, in its order. */
const FILES = [".env", ".env.local"];

/** The keys assigned in one env file (`KEY=…`, `export KEY=…`); comments and other lines skipped. */
export function envFileKeys(path: string): string[] {
  const keys: string[] = [];
  for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=/.exec(line);
    if (m) keys.push(m[1]!);
  }
  return keys;
}

/** The Mailer key `key` is probably a misspelling of, or null (a right key, or another tool's). */
export function suggestKey(key: string, known: string[]): string | null {
  if (known.includes(key)) return null;
  const upper = key.toUpperCase();
  if (known.includes(upper)) return upper;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(upper, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  // one edit for short keys, two for long ones: NODE_ENV is not a misspelt LOG_DIR
  return best !== null && bestDistance <= (upper.length >= 9 ? 2 : 1) ? best : null;
}

/** One warning per misspelt key in `dir`/.env and `dir`/.env.local. */
export function misspeltKeyWarnings(dir: string = process.cwd(), known: string[] = knownKeys()): string[] {
  const warnings: string[] = [];
  for (const file of FILES) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    let keys: string[];
    try {
      keys = envFileKeys(path);
    } catch {
      continue; // unreadable: Bun could not load it either
    }
    for (const key of keys) {
      const meant = suggestKey(key, known);
      if (meant) warnings.push(`${file}: ${key} is not a Mailer key — did you mean ${meant}? (it is ignored)`);
    }
  }
  return warnings;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
