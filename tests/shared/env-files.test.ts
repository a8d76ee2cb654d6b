// Misspelled keys in .env / .env.local (lib/shared/env-files.ts): a key that is not a Mailer key
// but is close to one gets a warning naming the file and the key it probably means; keys of
// other tools stay silent.
import { readmeSection } from "../helpers/readme";
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { envFileKeys, misspeltKeyWarnings, suggestKey } from "../../lib/shared/env-files";
import { knownKeys } from "../../lib/shared/config";

const KNOWN_KEYS = knownKeys();
import { useTempDirs } from "../helpers/kit";

const temp = useTempDirs("mailer-envfiles-");

test("suggestKey: one or two letters off (also swapped) gives the Mailer key; far from any gives nothing", () => {
  expect(suggestKey("SMTP_PROT", KNOWN_KEYS)).toBe("SMTP_PORT");
  expect(suggestKey("EMAIL_PASWORD", KNOWN_KEYS)).toBe("EMAIL_PASSWORD");
  expect(suggestKey("PERIOD_CHEK", KNOWN_KEYS)).toBe("PERIOD_CHECK");
  expect(suggestKey("smtp_port", KNOWN_KEYS)).toBe("SMTP_PORT");
  for (const other of ["NODE_ENV", "DATABASE_URL", "PATH", "HOME", "EDITOR"]) expect(suggestKey(other, KNOWN_KEYS)).toBeNull();
  expect(suggestKey("SMTP_PORT", KNOWN_KEYS)).toBeNull(); // a key that is right
});

test("keys are read from the files themselves (export, comments, quotes); warnings name the file", () => {
  const dir = temp();
  writeFileSync(join(dir, ".env"), "# sandbox\nSMTP_HOST=127.0.0.1\nexport IMAP_PROT=1143\n\nNOT A KEY LINE\n");
  writeFileSync(join(dir, ".env.local"), 'SMTP_PROT="25"\nDATABASE_URL=x\n');
  expect(envFileKeys(join(dir, ".env"))).toEqual(["SMTP_HOST", "IMAP_PROT"]);
  expect(misspeltKeyWarnings(dir)).toEqual([
    ".env: IMAP_PROT is not a Mailer key — did you mean IMAP_PORT? (it is ignored)",
    ".env.local: SMTP_PROT is not a Mailer key — did you mean SMTP_PORT? (it is ignored)",
  ]);
  expect(misspeltKeyWarnings(temp())).toEqual([]); // no files, no warnings
});

test("every key in README's Configuration table is known to the misspelt-key warning (the keys of every branch: OAuth2, POP3, web, limits, LOG_FORMAT)", () => {
  const section = readmeSection("Configuration");
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| key | meaning")));
  const documented = [...table.matchAll(/^\| (.+?) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((k) => k[1]!));
  expect(documented.length).toBeGreaterThan(30);
  const known = knownKeys();
  expect(documented.filter((k) => !known.includes(k))).toEqual([]);
  // and a correctly spelt one of them in .env is never taken for a misspelling
  for (const key of documented) expect(suggestKey(key, known)).toBeNull();
});
