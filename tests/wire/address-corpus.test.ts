// Runs every case of the shared address corpus (../shared/corpora/addresses, five public
// validator suites) through validateEmail and checks the result against Mailer's policy:
//
// - an address the corpus marks invalid is refused, unless it falls into one of the small
//   ACCEPTED_DESPITE_CORPUS categories below, each tied to a named rule in the README's Validation section;
// - an address the corpus marks valid is accepted whenever it has the ordinary form (ASCII
//   dot-atom local part, host name with a dot, within the RFC 5321 limits); the valid ones we
//   refuse must all be non-ordinary, and the test says why for each.
//
// The "ordinary form" oracle below is written independently of lib/validate.ts (only IDNA
// itself comes from the platform, node:url), so the two check each other.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { domainToASCII, domainToUnicode } from "node:url";
import { validateEmail } from "../../lib/wire/validate.ts";
import { readmeSection } from "../helpers/readme";

const corpusUrl = new URL("../../../shared/corpora/addresses/addresses.jsonl", import.meta.url);
const corpusPath = fileURLToPath(corpusUrl);

type Case = { address: string; expected: "valid" | "invalid"; source: string; note: string };

// ---------------------------------------------------------------------------------------
// The ordinary form, independently of the validator.

const ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~";
const DOT_ATOM = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`);
const LDH = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** ASCII form of one label if it is an LDH label or a valid IDN label, else null. */
function labelAscii(label: string): string | null {
  if (/^[\x00-\x7f]*$/.test(label)) {
    const l = label.toLowerCase();
    if (!LDH.test(l)) return null;
    if (l.slice(2, 4) === "--") {
      // Reserved LDH label: only a real A-label (punycode that decodes) is a host name label.
      if (!l.startsWith("xn--") || domainToASCII(l) === "" || domainToUnicode(l) === l) return null;
      if (!/^[\p{L}\p{M}\p{Nd}-]+$/u.test(domainToUnicode(l))) return null;
    }
    return l;
  }
  // A U-label: IDNA must take it as typed (no mapping to other characters), giving an LDH
  // A-label, and it must consist of letters, marks and digits (IDNA2008 has no symbols).
  if (!/^[\p{L}\p{M}\p{Nd}-]+$/u.test(label)) return null;
  const a = domainToASCII(label);
  if (a === "" || a.includes(".") || !LDH.test(a)) return null;
  let lower = "";
  for (const ch of label.normalize("NFC")) lower += ch.toLowerCase();
  return domainToUnicode(a) === lower.normalize("NFC") ? a : null;
}

/** null when the address has the ordinary form; otherwise what makes it non-ordinary. */
function nonOrdinary(raw: string): string | null {
  if (/[<>]/.test(raw)) return "display name or angle brackets";
  if (raw.includes('"')) return "quoted local part";
  if (/[()]/.test(raw)) return "comment";
  const at = raw.lastIndexOf("@");
  if (at < 0) return "no @";
  const local = raw.slice(0, at);
  const domain = raw.slice(at + 1);
  if (domain.startsWith("[")) return "IP address literal";
  if (/[^\x00-\x7f]/.test(local)) return "non-ASCII local part (needs SMTPUTF8)";
  if (!DOT_ATOM.test(local)) return "local part is not a dot-atom";
  if (local.length > 64) return "local part over 64 characters";
  if (!domain.includes(".")) return "dotless domain";
  const labels = domain.split(".");
  const ascii: string[] = [];
  for (const label of labels) {
    const a = labelAscii(label);
    if (a === null) return /^xn--/i.test(label) ? "invalid xn-- (punycode) label" : "domain label is not a host name label";
    ascii.push(a);
  }
  if (/^[0-9]+$/.test(ascii[ascii.length - 1]!)) return "all-numeric top-level label";
  const asciiDomain = ascii.join(".");
  if (asciiDomain.length > 253) return "domain over 253 characters";
  if (local.length + 1 + asciiDomain.length > 254) return "address over 254 characters";
  return null;
}

// ---------------------------------------------------------------------------------------
// Invalid-marked addresses that Mailer accepts on purpose. Each category is a predicate and
// names the rule of the README's Validation section that accepts it. Keep this list short.

// RFC 6761 / RFC 7686 special-use top-level names (python-email-validator refuses these).
const SPECIAL_USE_TLDS = new Set(["test", "example", "invalid", "localhost", "local", "onion", "arpa", "alt"]);
// The shape of a top-level domain a registry can issue: letters only, or an A-label.
const ISSUABLE_TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]+)$/;

const ACCEPTED_DESPITE_CORPUS: { rule: string; why: string; applies: (raw: string) => boolean }[] = [
  {
    rule: "**Trimming.**",
    why: "spaces or tabs around an otherwise ordinary address are trimmed, not refused",
    applies: (raw) => {
      const trimmed = raw.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
      return trimmed !== raw && nonOrdinary(trimmed) === null;
    },
  },
  {
    rule: "**Syntax, not existence.**",
    why: "an ordinary address whose only flaw is a top-level domain that is special-use or not issued",
    applies: (raw) => {
      if (nonOrdinary(raw) !== null) return false;
      const tld = raw.slice(raw.lastIndexOf(".") + 1).toLowerCase();
      return SPECIAL_USE_TLDS.has(tld) || !ISSUABLE_TLD.test(tld);
    },
  },
];

// ---------------------------------------------------------------------------------------

const corpusFound = existsSync(corpusPath);
const suite = corpusFound ? describe : describe.skip;
if (!corpusFound) {
  test.skip(`shared corpus not found at ${corpusPath}`, () => {});
}

suite("address corpus", () => {
  const cases: Case[] = corpusFound
    ? readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Case)
    : [];
  const results = cases.map((c) => ({ c, r: validateEmail(c.address) }));

  test("the corpus is complete (889 cases)", () => {
    expect(cases.length).toBe(889);
    expect(cases.filter((c) => c.expected === "valid").length).toBe(345);
    expect(cases.filter((c) => c.expected === "invalid").length).toBe(544);
  });

  test("every result has the documented shape; reasons are safe and bounded", () => {
    for (const { c, r } of results) {
      if (r.ok) {
        expect(r.value.address).toBe(c.address.replace(/^[ \t]+/, "").replace(/[ \t]+$/, ""));
        expect(r.value.asciiAddress).toMatch(/^[\x21-\x7e]+$/);
        expect(r.value.asciiAddress.length).toBeLessThanOrEqual(254);
        expect(r.value.asciiAddress).toBe(`${r.value.local}@${r.value.asciiDomain}`);
      } else {
        expect(r.field).toBe("email");
        expect(r.code).toBe("INVALID_EMAIL");
        expect(r.error.startsWith("email")).toBe(true);
        expect(r.error).toContain(" — ");
        // Control, invisible and unpaired characters never reach the reason raw.
        expect(r.error).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u);
        expect(r.error.length).toBeLessThan(700);
      }
    }
  });

  test("invalid-marked addresses are refused unless a documented rule accepts them", () => {
    const doc = readmeSection("Validation");
    for (const cat of ACCEPTED_DESPITE_CORPUS) expect(doc).toContain(cat.rule);

    const perRule = new Map<string, number>();
    const unexplained: string[] = [];
    for (const { c, r } of results) {
      if (c.expected !== "invalid" || !r.ok) continue;
      const cat = ACCEPTED_DESPITE_CORPUS.find((k) => k.applies(c.address));
      if (!cat) unexplained.push(`${JSON.stringify(c.address)} (${c.source})`);
      else perRule.set(cat.rule, (perRule.get(cat.rule) ?? 0) + 1);
    }
    expect(unexplained).toEqual([]);
    for (const cat of ACCEPTED_DESPITE_CORPUS) {
      console.log(`  invalid-marked but accepted under ${cat.rule.replaceAll("*", "")} ${perRule.get(cat.rule) ?? 0} (${cat.why})`);
    }
  });

  test("valid-marked addresses of the ordinary form are accepted; the refused ones are all non-ordinary", () => {
    const wronglyRefused: string[] = [];
    const refusedWhy = new Map<string, number>();
    for (const { c, r } of results) {
      if (c.expected !== "valid") continue;
      const why = nonOrdinary(c.address);
      if (why === null && !r.ok) wronglyRefused.push(`${JSON.stringify(c.address)} (${c.source}): ${r.error}`);
      if (!r.ok && why !== null) refusedWhy.set(why, (refusedWhy.get(why) ?? 0) + 1);
    }
    expect(wronglyRefused).toEqual([]);
    for (const [why, n] of [...refusedWhy].sort((a, b) => b[1] - a[1])) {
      console.log(`  valid-marked, refused as non-ordinary: ${n} × ${why}`);
    }
  });

  test("the oracle agrees: every ordinary address in the corpus is accepted, whatever the mark", () => {
    // An ordinary address marked invalid must be explained by a category above; the only way
    // an ordinary address could be refused would be a validator bug.
    const refusedOrdinary = results.filter(({ c, r }) => !r.ok && nonOrdinary(c.address) === null);
    expect(refusedOrdinary.map(({ c }) => c.address)).toEqual([]);
  });

  test("summary per source and per expected class", () => {
    const rows = new Map<string, { validAcc: number; validRef: number; invalidAcc: number; invalidRef: number }>();
    for (const { c, r } of results) {
      const row = rows.get(c.source) ?? { validAcc: 0, validRef: 0, invalidAcc: 0, invalidRef: 0 };
      if (c.expected === "valid") r.ok ? row.validAcc++ : row.validRef++;
      else r.ok ? row.invalidAcc++ : row.invalidRef++;
      rows.set(c.source, row);
    }
    const total = { validAcc: 0, validRef: 0, invalidAcc: 0, invalidRef: 0 };
    for (const [source, row] of [...rows].sort()) {
      console.log(`  ${source.padEnd(38)} valid: ${row.validAcc} accepted, ${row.validRef} refused; invalid: ${row.invalidAcc} accepted, ${row.invalidRef} refused`);
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += row[k];
    }
    console.log(
      `address corpus: ${results.length} cases — valid-marked ${total.validAcc + total.validRef}: ${total.validAcc} accepted, ${total.validRef} refused; ` +
        `invalid-marked ${total.invalidAcc + total.invalidRef}: ${total.invalidAcc} accepted, ${total.invalidRef} refused`,
    );
    expect(total.validAcc + total.validRef + total.invalidAcc + total.invalidRef).toBe(889);
  });
});
