// Validation of the two things a person types: their email address and their message.
// Pure: no I/O, no DNS, no configuration reads. The rules are documented in
// the README's "Validation" section; keep the two in step.
//
// Policy in one line: accept what a person would type into a form as their own mailbox
// address (WHATWG "valid email address" plus RFC 5321 length limits and real IDNA), and
// refuse everything else with a reason that says what to change.

import { domainToASCII, domainToUnicode } from "node:url";

export type ValidationResult<T> =
  | { ok: true; value: T }
  | { ok: false; field: "email" | "message"; code: "INVALID_EMAIL" | "INVALID_MESSAGE"; error: string };

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
/** RFC 1035 2.3.4 (255 octets on the wire = 253 characters written out). */
export const MAX_DOMAIN_OCTETS = 253;
/** RFC 1035 2.3.4. */
export const MAX_LABEL_OCTETS = 63;
export const DEFAULT_MAX_MESSAGE_CHARS = 10_000;

/** Characters allowed in a dot-atom besides letters and digits (RFC 5322 atext). */
const ATEXT_SPECIALS = "!#$%&'*+-/=?^_`{|}~";
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;
const LDH_LABEL = /^[a-z0-9-]+$/;
const EXAMPLE = "name@example.com";
const SHOW_MAX = 80;

// ---------------------------------------------------------------------------------------
// Showing user input safely inside an error message.

const CONTROL_NAMES: Record<number, string> = {
  0x00: "NUL", 0x01: "SOH", 0x02: "STX", 0x03: "ETX", 0x04: "EOT", 0x05: "ENQ", 0x06: "ACK",
  0x07: "BEL", 0x08: "backspace", 0x09: "tab", 0x0a: "line feed", 0x0b: "vertical tab",
  0x0c: "form feed", 0x0d: "carriage return", 0x0e: "SO", 0x0f: "SI", 0x10: "DLE",
  0x11: "DC1", 0x12: "DC2", 0x13: "DC3", 0x14: "DC4", 0x15: "NAK", 0x16: "SYN", 0x17: "ETB",
  0x18: "CAN", 0x19: "EM", 0x1a: "SUB", 0x1b: "escape", 0x1c: "FS", 0x1d: "GS", 0x1e: "RS",
  0x1f: "US", 0x7f: "delete", 0x85: "next line",
};

const OTHER_NAMES: Record<number, string> = {
  0x00a0: "no-break space", 0x00ad: "soft hyphen", 0x061c: "Arabic letter mark",
  0x1680: "Ogham space mark", 0x180e: "Mongolian vowel separator",
  0x2000: "en quad", 0x2001: "em quad", 0x2002: "en space", 0x2003: "em space",
  0x2004: "three-per-em space", 0x2005: "four-per-em space", 0x2006: "six-per-em space",
  0x2007: "figure space", 0x2008: "punctuation space", 0x2009: "thin space",
  0x200a: "hair space", 0x200b: "zero-width space", 0x200c: "zero-width non-joiner",
  0x200d: "zero-width joiner", 0x200e: "left-to-right mark", 0x200f: "right-to-left mark",
  0x2028: "line separator", 0x2029: "paragraph separator",
  0x202a: "left-to-right embedding", 0x202b: "right-to-left embedding",
  0x202c: "pop directional formatting", 0x202d: "left-to-right override",
  0x202e: "right-to-left override", 0x202f: "narrow no-break space",
  0x205f: "medium mathematical space", 0x2060: "word joiner",
  0x2066: "left-to-right isolate", 0x2067: "right-to-left isolate",
  0x2068: "first strong isolate", 0x2069: "pop directional isolate",
  0x3000: "ideographic space", 0xfeff: "zero-width no-break space (byte order mark)",
  0xff20: "full-width at sign", 0xfe6b: "small commercial at",
  0x3002: "ideographic full stop", 0xff0e: "full-width full stop",
  0xff61: "half-width ideographic full stop",
};

function hex(cp: number): string {
  return cp.toString(16).toUpperCase().padStart(4, "0");
}

/** "U+200B (zero-width space)" */
function describe(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const name = CONTROL_NAMES[cp] ?? OTHER_NAMES[cp];
  return name ? `U+${hex(cp)} (${name})` : `U+${hex(cp)}`;
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

function needsEscape(ch: string): boolean {
  return /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u.test(ch) || (/\p{Zs}/u.test(ch) && ch !== " ");
}

function escapeChar(ch: string): string {
  if (ch === "\n") return "\\n";
  if (ch === "\r") return "\\r";
  if (ch === "\t") return "\\t";
  if (!needsEscape(ch)) return ch;
  const cp = ch.codePointAt(0)!;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, "0")}`;
}

/** Quotes user input for an error message: invisible characters escaped, long input cut. */
function show(s: string, max = SHOW_MAX): string {
  // 2·max+2 code units always hold more than max code points when the string is longer.
  const head = Array.from(s.slice(0, max * 2 + 2));
  if (head.length <= max) return `"${head.map(escapeChar).join("")}"`;
  return `"${head.slice(0, max - 1).map(escapeChar).join("")}…" (${formatCount(codePoints(s))} characters)`;
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

function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "not a number", "but it is missing", ... for "<field> must be a string, ___". */
function kindOf(v: unknown): string {
  if (v === undefined) return "but it is missing";
  if (v === null) return "not null";
  if (Array.isArray(v)) return "not a list";
  if (typeof v === "object") return "not an object";
  return `not a ${typeof v}`;
}

function lowerEachCodePoint(s: string): string {
  // Per code point, so that a final capital sigma maps like IDNA maps it (σ, not ς).
  let out = "";
  for (const ch of s) out += ch.toLowerCase();
  return out;
}

// ---------------------------------------------------------------------------------------
// Email address

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

  // One line of visible characters.
  let pos = 0;
  for (const ch of t) {
    pos++;
    const bad = unsafeInAddress(ch);
    if (bad) return emailError(`email address ${show(t)} contains ${bad.kind} ${describe(ch)} at position ${pos} — ${bad.fix}`);
  }

  // Address only: no display name, no angle brackets.
  const angle = /^([^<>]*)<([^<>]*)>$/.exec(t);
  if (angle) {
    const name = angle[1]!.trim();
    const inner = angle[2]!.trim();
    const what = name ? `includes a display name (${show(name)})` : "is wrapped in angle brackets";
    const innerResult = validateEmail(inner);
    if (innerResult.ok) {
      return emailError(`email address ${show(t)} ${what} — enter only the address, e.g. ${innerResult.value.address}, without a name or angle brackets`);
    }
    return emailError(`email address ${show(t)} ${what} — enter only the address, without a name or angle brackets (and note: ${innerResult.error})`);
  }

  const fullwidthAt = /[\uFF20\uFE6B]/.exec(t);
  if (fullwidthAt && !t.includes("@")) {
    return emailError(`email address ${show(t)} uses ${describe(fullwidthAt[0])} "${fullwidthAt[0]}" instead of the ordinary @ — retype it as @ (switch off full-width input if your keyboard uses it)`);
  }
  if (t.includes('"')) {
    return emailError(`email address ${show(t)} contains a double quote (") — quoted addresses such as "john smith"@example.com are not supported; use an address without quotes, e.g. john.smith@example.com`);
  }
  if (/[()]/.test(t)) {
    return emailError(`email address ${show(t)} contains a parenthesis — comments such as (work) are not supported; enter only the address, e.g. ${EXAMPLE}`);
  }
  if (t.includes("\\")) {
    return emailError(`email address ${show(t)} contains a backslash (\\) — backslash escapes are not supported; use an address made of letters, digits and . _ + - and similar`);
  }
  const spaceAt = t.indexOf(" ");
  if (spaceAt >= 0) {
    return emailError(`email address ${show(t)} contains a space at position ${codePoints(t.slice(0, spaceAt)) + 1} — addresses contain no spaces; remove it (if you typed your name too, enter only the address)`);
  }

  const ats = t.split("@").length - 1;
  if (ats === 0) {
    return emailError(`email address ${show(t)} has no @ — an address looks like ${EXAMPLE}`);
  }
  if (ats > 1) {
    return emailError(`email address ${show(t)} has ${ats} @ signs — an address has exactly one, as in ${EXAMPLE}`);
  }
  const at = t.indexOf("@");
  const local = t.slice(0, at);
  const domain = t.slice(at + 1);
  if (local === "" && domain === "") {
    return emailError(`email address ${show(t)} has nothing before or after the @ — an address looks like ${EXAMPLE}`);
  }
  if (local === "") {
    return emailError(`email address ${show(t)} has nothing before the @ — add your mailbox name, e.g. ${exampleFrom(`name${t}`)}`);
  }
  const localError = checkLocal(t, local);
  if (localError) return emailError(localError);
  if (domain === "") {
    return emailError(`email address ${show(t)} has nothing after the @ — add the domain, e.g. ${exampleFrom(`${t}example.com`)}`);
  }
  if (domain.startsWith("[")) {
    return emailError(`email address ${show(t)} uses an IP address literal (${show(domain)}) instead of a domain name — enter an address with a domain name, e.g. ${EXAMPLE}`);
  }

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

function checkLocal(t: string, local: string): string | null {
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

/** The ASCII (IDNA) form of the domain, lower case, or why the domain is refused. */
function checkDomain(t: string, domain: string): { ascii: string } | { error: string } {
  const r = domainProblem(t, domain);
  return typeof r === "string" ? { error: r } : r;
}

function domainProblem(t: string, domain: string): string | { ascii: string } {
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
  const labels = domain.split(".");
  const tld = labels[labels.length - 1]!;
  if (/^[0-9]+$/.test(tld)) {
    return `email address ${show(t)}: ${after} ends in the all-numeric label "${tld}" — top-level domains are never all digits; if this is an IP address, use an address with a domain name instead`;
  }
  for (const label of labels) {
    if (label.startsWith("-") || label.endsWith("-")) {
      return `email address ${show(t)}: the domain label ${show(label)} ${label.startsWith("-") ? "starts" : "ends"} with a hyphen — a domain name part cannot begin or end with "-"; check the spelling`;
    }
  }

  // IDNA (UTS #46 non-transitional, as in the WHATWG URL standard), only where it is needed.
  let ascii = domain.toLowerCase();
  if (/[^\x00-\x7f]/.test(domain)) {
    ascii = domainToASCII(domain);
    if (ascii === "") {
      const bad = labels.find((l) => /[^\x00-\x7f]/.test(l) && domainToASCII(l) === "");
      const which = bad !== undefined ? `the domain label ${show(bad)}` : after;
      return `email address ${show(t)}: ${which} is not a valid internationalised domain name — check the spelling, or use the domain's ASCII (xn--) form`;
    }
    const expected = lowerEachCodePoint(domain.normalize("NFC")).normalize("NFC");
    if (domainToUnicode(ascii) !== expected) {
      // IDNA mapped something to a different character: a look-alike (full-width letters,
      // compatibility forms, ...). Refuse rather than silently send somewhere else.
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
  }

  // IDNA2008 (RFC 5892) allows letters, marks and digits, not symbols or punctuation; UTS #46
  // is laxer (it passes "©" or emoji). Approximate IDNA2008 by general category.
  for (const label of labels) {
    for (const ch of label) {
      if (ch.codePointAt(0)! > 0x7f && !/[\p{L}\p{M}\p{Nd}]/u.test(ch)) {
        return `email address ${show(t)}: the domain label ${show(label)} contains "${ch}" (${describe(ch)}), which is not a letter or digit — domain names use only letters, digits and hyphens; check the spelling`;
      }
    }
  }

  const asciiLabels = ascii.split(".");
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
      if (!al.startsWith("xn--")) {
        return `email address ${show(t)}: the domain label ${show(typed)} has "--" in the third and fourth places, which is reserved for internationalised (xn--) labels — check the spelling`;
      }
      const u = domainToASCII(al) === "" ? al : domainToUnicode(al);
      if (u === al) {
        return `email address ${show(t)}: the domain label ${show(typed)} looks like an internationalised (xn--) label but is not a valid one — check the spelling, or type the domain in its Unicode form`;
      }
      // The same letters-and-digits rule as for a label typed in Unicode.
      for (const ch of u) {
        if (ch.codePointAt(0)! > 0x7f && !/[\p{L}\p{M}\p{Nd}]/u.test(ch)) {
          return `email address ${show(t)}: the domain label ${show(typed)} (${show(u)}) contains "${ch}" (${describe(ch)}), which is not a letter or digit — domain names use only letters, digits and hyphens; check the spelling`;
        }
      }
    }
  }
  if (ascii.length > MAX_DOMAIN_OCTETS) {
    const idn = ascii !== domain.toLowerCase() ? " in the ASCII form used for sending" : "";
    return `email address ${show(t)}: the domain is ${formatCount(ascii.length)} characters long${idn}; the limit is ${MAX_DOMAIN_OCTETS} — check the address`;
  }
  return { ascii };
}

// ---------------------------------------------------------------------------------------
// Message

function messageError(error: string): ValidationResult<never> {
  return { ok: false, field: "message", code: "INVALID_MESSAGE", error };
}

function lineAndColumn(text: string, index: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < index; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${codePoints(text.slice(lineStart, index)) + 1}`;
}

/**
 * Validates and normalises a message: CRLF and lone CR become LF; leading blank lines and
 * trailing whitespace are removed; everything else is kept exactly as typed. Length is
 * counted in Unicode code points after normalisation. `maxChars` must be a positive integer.
 */
export function validateMessage(input: unknown, maxChars = DEFAULT_MAX_MESSAGE_CHARS): ValidationResult<string> {
  if (!Number.isSafeInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`validateMessage: maxChars must be a positive integer, got ${String(maxChars)}`);
  }
  if (typeof input !== "string") {
    return messageError(`message must be a string, ${kindOf(input)} — send the text of your request as a string`);
  }
  let text = input.replace(/\r\n?/g, "\n");
  if (!text.isWellFormed()) {
    const m = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text)!;
    return messageError(`message contains an unpaired surrogate ${describe(m[0])} at ${lineAndColumn(text, m.index)} (damaged text) — retype or re-paste that part of the message`);
  }
  const control = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/.exec(text);
  if (control) {
    return messageError(`message contains the control character ${describe(control[0])} at ${lineAndColumn(text, control.index)} — remove it; only line breaks and tabs are allowed`);
  }
  // Leading lines that hold only whitespace, and all whitespace at the very end.
  text = text.replace(/^(?:[^\S\n]*\n)+/, "").trimEnd();
  if (text.trim() === "") return messageError("message is empty — type the text of your request");
  const n = codePoints(text);
  if (n > maxChars) {
    return messageError(`message is ${formatCount(n)} characters; the limit is ${formatCount(maxChars)} — shorten it by at least ${formatCount(n - maxChars)} (characters are counted as Unicode code points: an emoji usually counts as 1)`);
  }
  return { ok: true, value: text };
}
