// Showing user input inside an error message: invisible characters named or escaped, long
// input cut, counts written the way people read them. Used by the address and message rules.

/** Longest input quoted whole in a message (in code points). */
export const SHOW_MAX = 80;

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
export function describe(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const name = CONTROL_NAMES[cp] ?? OTHER_NAMES[cp];
  return name ? `U+${hex(cp)} (${name})` : `U+${hex(cp)}`;
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
export function show(s: string, max = SHOW_MAX): string {
  // 2·max+2 code units always hold more than max code points when the string is longer.
  const head = Array.from(s.slice(0, max * 2 + 2));
  if (head.length <= max) return `"${head.map(escapeChar).join("")}"`;
  return `"${head.slice(0, max - 1).map(escapeChar).join("")}…" (${formatCount(codePoints(s))} characters)`;
}

/** Length in Unicode code points (an emoji counts as 1), without building an array. */
export function codePoints(s: string): number {
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

/** 12345 → "12,345" */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "not a number", "but it is missing", ... for "<field> must be a string, ___". */
export function kindOf(v: unknown): string {
  if (v === undefined) return "but it is missing";
  if (v === null) return "not null";
  if (Array.isArray(v)) return "not a list";
  if (typeof v === "object") return "not an object";
  return `not a ${typeof v}`;
}
