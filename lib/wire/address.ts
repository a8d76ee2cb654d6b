// The rules for the email address a person types (docs/validation.md "Validation", "Email address"; keep
// the two in step). Pure: no I/O, no DNS, no configuration reads.
//
// Policy in one line: accept what a person would type into a form as their own mailbox
// address (WHATWG "valid email address" plus RFC 5321 length limits and real IDNA), and
// refuse everything else with a reason that says what to change.
import { checkDomain } from "./domain";
import { codePoints, describe, formatCount, kindOf, show, SHOW_MAX } from "./display";
import type { ValidationResult } from "./validate";

export type ValidEmail = {
  /** Trimmed, as typed (a Unicode domain stays Unicode). For display. */
  address: string;
  /** local@asciiDomain: what goes into the SMTP envelope and the To/Reply-To headers. */
  asciiAddress: string;
  /** The part before the @, as typed (always ASCII). */
  local: string;
  /** The part after the @, as typed. */
  domain: string;
  /** The domain in IDNA ASCII form (punycode), lower case. */
  asciiDomain: string;
};

/** RFC 5321 4.5.3.1.3 as corrected by RFC 3696 erratum 1690: a whole path ≤ 256 octets incl. <>. */
export const MAX_ADDRESS_OCTETS = 254;
/** RFC 5321 4.5.3.1.1. */
export const MAX_LOCAL_OCTETS = 64;

/** Characters allowed in a dot-atom besides letters and digits (RFC 5322 atext). */
const ATEXT_SPECIALS = "!#$%&'*+-/=?^_`{|}~";
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;
const EXAMPLE = "name@example.com";

type Problem = string | null;

function emailError(error: string): ValidationResult<never> {
  return { ok: false, field: "email", code: "INVALID_EMAIL", error };
}

export function validateEmail(input: unknown): ValidationResult<ValidEmail> {
  if (typeof input !== "string") {
    return emailError(`email must be a string, ${kindOf(input)} — send the address as text, e.g. "${EXAMPLE}"`);
  }
  // Trimming: spaces and tabs around the address only. Line breaks are never trimmed away:
  // an address that arrives with CR or LF is refused (header injection is not "whitespace").
  const t = trimSpacesAndTabs(input);
  if (t === "") return emailError(`email address is empty — type your address, e.g. ${EXAMPLE}`);
  const problem = invisibleProblem(t) ?? wrappedProblem(t) ?? unsupportedSyntaxProblem(t);
  if (problem) return emailError(problem);
  const parts = splitAtSign(t);
  if (typeof parts === "string") return emailError(parts);
  const { local, domain } = parts;
  const checked = checkDomain(t, domain);
  if ("error" in checked) return emailError(checked.error);
  const d = checked.ascii;
  const asciiAddress = `${local}@${d}`;
  if (asciiAddress.length > MAX_ADDRESS_OCTETS) {
    const idn = d !== domain.toLowerCase() ? " in the ASCII form used for sending" : "";
    return emailError(`email address ${show(t)} is ${formatCount(asciiAddress.length)} characters long${idn}; the limit is ${MAX_ADDRESS_OCTETS} — use a shorter address`);
  }
  return { ok: true, value: { address: t, asciiAddress, local, domain, asciiDomain: d } };
}

/** One line of visible characters. */
function invisibleProblem(t: string): Problem {
  let pos = 0;
  for (const ch of t) {
    pos++;
    const bad = unsafeInAddress(ch);
    if (bad) return `email address ${show(t)} contains ${bad.kind} ${describe(ch)} at position ${pos} — ${bad.fix}`;
  }
  return null;
}

type Unsafe = { kind: string; fix: string };

/**
 * Characters that never belong in an address: controls (C0, DEL, C1), line and paragraph
 * separators, Unicode spaces other than the ASCII space, invisible format characters,
 * unpaired surrogates, private-use, unassigned code points and noncharacters.
 */
function unsafeInAddress(ch: string): Unsafe | null {
  if (/\p{Cc}/u.test(ch)) {
    return ch === "\n" || ch === "\r"
      ? { kind: "a line break", fix: "the address must be a single line; remove the line break" }
      : { kind: "a control character", fix: "remove it; an address is made of visible characters only" };
  }
  if (ch === "\u2028" || ch === "\u2029") return { kind: "a line break", fix: "the address must be a single line; remove it" };
  if (/\p{Cs}/u.test(ch)) return { kind: "an unpaired surrogate (damaged text)", fix: "retype the address" };
  if (/\p{Zs}/u.test(ch) && ch !== " ") return { kind: "a space character", fix: "remove it (it often comes with text copied from a web page); addresses contain no spaces" };
  if (/\p{Cf}/u.test(ch)) return { kind: "an invisible formatting character", fix: "remove it (it often comes with copied text); retype the address if in doubt" };
  if (/\p{Co}/u.test(ch)) return { kind: "a private-use character", fix: "retype the address with ordinary characters" };
  if (/\p{Cn}/u.test(ch)) return { kind: "an unassigned code point or noncharacter", fix: "retype the address with ordinary characters" };
  return null;
}

/** Address only: no display name, no angle brackets. */
function wrappedProblem(t: string): Problem {
  const angle = /^([^<>]*)<([^<>]*)>$/.exec(t);
  if (!angle) return null;
  const name = angle[1]!.trim();
  const inner = angle[2]!.trim();
  const what = name ? `includes a display name (${show(name)})` : "is wrapped in angle brackets";
  const innerResult = validateEmail(inner);
  if (innerResult.ok) {
    return `email address ${show(t)} ${what} — enter only the address, e.g. ${innerResult.value.address}, without a name or angle brackets`;
  }
  return `email address ${show(t)} ${what} — enter only the address, without a name or angle brackets (and note: ${innerResult.error})`;
}

/** Forms RFC 5322 allows but a form field should not: quotes, comments, escapes, spaces. */
function unsupportedSyntaxProblem(t: string): Problem {
  const fullwidthAt = /[\uFF20\uFE6B]/.exec(t);
  if (fullwidthAt && !t.includes("@")) {
    return `email address ${show(t)} uses ${describe(fullwidthAt[0])} "${fullwidthAt[0]}" instead of the ordinary @ — retype it as @ (switch off full-width input if your keyboard uses it)`;
  }
  if (t.includes('"')) {
    return `email address ${show(t)} contains a double quote (") — quoted addresses such as "john smith"@example.com are not supported; use an address without quotes, e.g. john.smith@example.com`;
  }
  if (/[()]/.test(t)) {
    return `email address ${show(t)} contains a parenthesis — comments such as (work) are not supported; enter only the address, e.g. ${EXAMPLE}`;
  }
  if (t.includes("\\")) {
    return `email address ${show(t)} contains a backslash (\\) — backslash escapes are not supported; use an address made of letters, digits and . _ + - and similar`;
  }
  const spaceAt = t.indexOf(" ");
  if (spaceAt >= 0) {
    return `email address ${show(t)} contains a space at position ${codePoints(t.slice(0, spaceAt)) + 1} — addresses contain no spaces; remove it (if you typed your name too, enter only the address)`;
  }
  return null;
}

/** Exactly one @, a valid part before it and something that can be a domain name after it. */
function splitAtSign(t: string): string | { local: string; domain: string } {
  const ats = t.split("@").length - 1;
  if (ats === 0) return `email address ${show(t)} has no @ — an address looks like ${EXAMPLE}`;
  if (ats > 1) return `email address ${show(t)} has ${ats} @ signs — an address has exactly one, as in ${EXAMPLE}`;
  const at = t.indexOf("@");
  const local = t.slice(0, at);
  const domain = t.slice(at + 1);
  if (local === "" && domain === "") {
    return `email address ${show(t)} has nothing before or after the @ — an address looks like ${EXAMPLE}`;
  }
  if (local === "") {
    return `email address ${show(t)} has nothing before the @ — add your mailbox name, e.g. ${exampleFrom(`name${t}`)}`;
  }
  const localError = localPartProblem(t, local);
  if (localError) return localError;
  if (domain === "") {
    return `email address ${show(t)} has nothing after the @ — add the domain, e.g. ${exampleFrom(`${t}example.com`)}`;
  }
  if (domain.startsWith("[")) {
    return `email address ${show(t)} uses an IP address literal (${show(domain)}) instead of a domain name — enter an address with a domain name, e.g. ${EXAMPLE}`;
  }
  return { local, domain };
}

function localPartProblem(t: string, local: string): Problem {
  const before = `the part before the @ (${show(local)})`;
  for (const ch of local) {
    if (ch.codePointAt(0)! > 0x7f) {
      return `email address ${show(t)}: ${before} contains the non-ASCII character "${ch}" (${describe(ch)}) — such addresses need SMTPUTF8, which most mail servers do not support; use an address with only ASCII letters, digits and . ${ATEXT_SPECIALS} before the @`;
    }
    if (ch !== "." && !ATEXT.test(ch)) {
      return `email address ${show(t)}: ${before} contains "${ch}", which is not allowed there — use only letters, digits, dots and ${ATEXT_SPECIALS}`;
    }
  }
  // All atext, but an RFC 2047 encoded word: mail parsers (mailparser among them) decode it in
  // To/Reply-To, so "=?utf-8?q?x=0D=0ABcc=3A_…?=" would turn into a line break and a header there.
  if (/=\?[^?\s]+\?[bq]\?[^?\s]*\?=/i.test(local)) {
    return `email address ${show(t)}: ${before} looks like an encoded word (=?charset?q?…?=), which mail programs would decode — enter the plain address`;
  }
  if (local.startsWith(".")) return `email address ${show(t)}: ${before} starts with a dot — remove the leading dot`;
  if (local.endsWith(".")) return `email address ${show(t)}: ${before} ends with a dot — remove the dot before the @`;
  if (local.includes("..")) return `email address ${show(t)}: ${before} has two dots in a row — use a single dot`;
  if (local.length > MAX_LOCAL_OCTETS) {
    return `email address ${show(t)}: the part before the @ is ${local.length} characters long; the limit is ${MAX_LOCAL_OCTETS} — check the address for a typo`;
  }
  return null;
}

/** The input itself as an example when it is short enough to read, else a generic one. */
function exampleFrom(s: string): string {
  return codePoints(s) <= SHOW_MAX ? s : EXAMPLE;
}

/** Removes spaces and tabs at both ends (linear time, unlike a /[ \t]+$/ regex). */
function trimSpacesAndTabs(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === " " || s[a] === "\t")) a++;
  while (b > a && (s[b - 1] === " " || s[b - 1] === "\t")) b--;
  return s.slice(a, b);
}
