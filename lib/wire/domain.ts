// The rules for the part of an address after the @ (docs/validation.md "Validation", "Email address"):
// a domain name of letters, digits and hyphens, internationalised names through real IDNA,
// look-alikes refused rather than silently sent somewhere else. Pure: no DNS.
import { domainToASCII, domainToUnicode } from "node:url";
import { describe, formatCount, show } from "./display";

/** RFC 1035 2.3.4 (255 octets on the wire = 253 characters written out). */
export const MAX_DOMAIN_OCTETS = 253;
/** RFC 1035 2.3.4. */
export const MAX_LABEL_OCTETS = 63;

const LDH_LABEL = /^[a-z0-9-]+$/;
const NON_ASCII = /[^\x00-\x7f]/;

/** Every check names the whole address `t` first, then the part that is wrong. */
type Problem = string | null;

/**
 * The ASCII (IDNA) form of `domain`, lower case, or why the domain is refused. `t` is the
 * whole address as typed, for the message.
 */
export function checkDomain(t: string, domain: string): { ascii: string } | { error: string } {
  const labels = domain.split(".");
  const before = syntaxProblem(t, domain, labels);
  if (before) return { error: before };
  const idna = toAscii(t, domain, labels);
  if (typeof idna === "string") return { error: idna };
  const ascii = idna.ascii;
  const after = nonLetterProblem(t, labels) ?? asciiLabelsProblem(t, ascii.split("."), labels) ?? lengthProblem(t, domain, ascii);
  return after ? { error: after } : { ascii };
}

/** What can be seen in the domain as typed: characters, dots, the last label, hyphens. */
function syntaxProblem(t: string, domain: string, labels: string[]): Problem {
  const after = `the domain (${show(domain)})`;
  const odd = /[\u3002\uFF0E\uFF61]/.exec(domain);
  if (odd) {
    return `email address ${show(t)}: ${after} uses ${describe(odd[0])} "${odd[0]}" as a dot — type an ordinary dot (.) instead`;
  }
  for (const ch of domain) {
    if (ch.codePointAt(0)! <= 0x7f && !/[A-Za-z0-9.-]/.test(ch)) {
      return `email address ${show(t)}: ${after} contains "${ch}", which is not allowed in a domain name — domain names use only letters, digits, hyphens and dots`;
    }
  }
  if (domain.startsWith(".")) return `email address ${show(t)}: ${after} starts with a dot — remove the dot after the @`;
  if (domain.endsWith(".")) return `email address ${show(t)}: ${after} ends with a dot — remove the final dot`;
  if (domain.includes("..")) return `email address ${show(t)}: ${after} has two dots in a row — use a single dot`;
  if (!domain.includes(".")) {
    return `email address ${show(t)}: ${after} has no dot — enter the full domain name, such as example.com (names like ${show(domain)} without a dot only work inside one network)`;
  }
  const tld = labels[labels.length - 1]!;
  if (/^[0-9]+$/.test(tld)) {
    return `email address ${show(t)}: ${after} ends in the all-numeric label "${tld}" — top-level domains are never all digits; if this is an IP address, use an address with a domain name instead`;
  }
  for (const label of labels) {
    if (label.startsWith("-") || label.endsWith("-")) {
      return `email address ${show(t)}: the domain label ${show(label)} ${label.startsWith("-") ? "starts" : "ends"} with a hyphen — a domain name part cannot begin or end with "-"; check the spelling`;
    }
  }
  return null;
}

/** IDNA (UTS #46 non-transitional, as in the WHATWG URL standard), only where it is needed. */
function toAscii(t: string, domain: string, labels: string[]): string | { ascii: string } {
  if (!NON_ASCII.test(domain)) return { ascii: domain.toLowerCase() };
  const ascii = domainToASCII(domain);
  if (ascii === "") {
    const bad = labels.find((l) => NON_ASCII.test(l) && domainToASCII(l) === "");
    const which = bad !== undefined ? `the domain label ${show(bad)}` : `the domain (${show(domain)})`;
    return `email address ${show(t)}: ${which} is not a valid internationalised domain name — check the spelling, or use the domain's ASCII (xn--) form`;
  }
  const expected = lowerEachCodePoint(domain.normalize("NFC")).normalize("NFC");
  // IDNA mapped something to a different character: a look-alike (full-width letters,
  // compatibility forms, ...). Refuse rather than silently send somewhere else.
  if (domainToUnicode(ascii) !== expected) return lookAlikeProblem(t, domain, ascii);
  return { ascii };
}

function lookAlikeProblem(t: string, domain: string, ascii: string): string {
  const after = `the domain (${show(domain)})`;
  for (const ch of domain) {
    if (ch.codePointAt(0)! <= 0x7f) continue;
    const a = domainToASCII(`a${ch}`);
    const back = a === "" ? "" : domainToUnicode(a);
    if (back !== lowerEachCodePoint(`a${ch}`).normalize("NFC")) {
      const as = back.length > 1 ? ` — retype it as "${back.slice(1)}"` : " — retype it with ordinary characters";
      return `email address ${show(t)}: ${after} contains "${ch}" (${describe(ch)}), a look-alike that is not used in domain names${as}`;
    }
  }
  return `email address ${show(t)}: ${after} contains characters that are not used in domain names as typed (it would become ${show(domainToUnicode(ascii))}) — retype the domain`;
}

/** Per code point, so that a final capital sigma maps like IDNA maps it (σ, not ς). */
function lowerEachCodePoint(s: string): string {
  let out = "";
  for (const ch of s) out += ch.toLowerCase();
  return out;
}

/**
 * IDNA2008 (RFC 5892) allows letters, marks and digits, not symbols or punctuation; UTS #46
 * is laxer (it passes "©" or emoji). Approximated by general category.
 */
function firstNonLetter(label: string): string | undefined {
  for (const ch of label) if (ch.codePointAt(0)! > 0x7f && !/[\p{L}\p{M}\p{Nd}]/u.test(ch)) return ch;
  return undefined;
}

function nonLetterProblem(t: string, labels: string[]): Problem {
  for (const label of labels) {
    const ch = firstNonLetter(label);
    if (ch !== undefined) {
      return `email address ${show(t)}: the domain label ${show(label)} contains "${ch}" (${describe(ch)}), which is not a letter or digit — domain names use only letters, digits and hyphens; check the spelling`;
    }
  }
  return null;
}

/** Each label in the form that is sent: letters-digits-hyphens, length, the "--" reserved for xn--. */
function asciiLabelsProblem(t: string, asciiLabels: string[], labels: string[]): Problem {
  for (let i = 0; i < asciiLabels.length; i++) {
    const al = asciiLabels[i]!;
    const typed = labels[i] ?? al;
    if (!LDH_LABEL.test(al)) {
      return `email address ${show(t)}: the domain label ${show(typed)} is not a valid domain name part — check the spelling`;
    }
    if (al.length > MAX_LABEL_OCTETS) {
      const idn = al !== typed.toLowerCase() ? ` in its ASCII form (${show(al)})` : "";
      return `email address ${show(t)}: the domain label ${show(typed)} is ${al.length} characters long${idn}; the limit is ${MAX_LABEL_OCTETS} — check the spelling`;
    }
    if (al.slice(2, 4) === "--") {
      const problem = reservedHyphensProblem(t, al, typed);
      if (problem) return problem;
    }
  }
  return null;
}

/** A label with "--" in the third and fourth places must be a valid xn-- label. */
function reservedHyphensProblem(t: string, al: string, typed: string): Problem {
  if (!al.startsWith("xn--")) {
    return `email address ${show(t)}: the domain label ${show(typed)} has "--" in the third and fourth places, which is reserved for internationalised (xn--) labels — check the spelling`;
  }
  const u = domainToASCII(al) === "" ? al : domainToUnicode(al);
  if (u === al) {
    return `email address ${show(t)}: the domain label ${show(typed)} looks like an internationalised (xn--) label but is not a valid one — check the spelling, or type the domain in its Unicode form`;
  }
  // The same letters-and-digits rule as for a label typed in Unicode.
  const ch = firstNonLetter(u);
  if (ch !== undefined) {
    return `email address ${show(t)}: the domain label ${show(typed)} (${show(u)}) contains "${ch}" (${describe(ch)}), which is not a letter or digit — domain names use only letters, digits and hyphens; check the spelling`;
  }
  return null;
}

function lengthProblem(t: string, domain: string, ascii: string): Problem {
  if (ascii.length <= MAX_DOMAIN_OCTETS) return null;
  const idn = ascii !== domain.toLowerCase() ? " in the ASCII form used for sending" : "";
  return `email address ${show(t)}: the domain is ${formatCount(ascii.length)} characters long${idn}; the limit is ${MAX_DOMAIN_OCTETS} — check the address`;
}
