import { describe, expect, test } from "bun:test";
import { readmeSection } from "../helpers/readme";
import { domainToASCII } from "node:url";
import {
  DEFAULT_MAX_MESSAGE_CHARS,
  MAX_ADDRESS_OCTETS,
  MAX_LOCAL_OCTETS,
  validateEmail,
  validateMessage,
} from "../../lib/wire/validate.ts";

function refusedEmail(input: unknown): string {
  const r = validateEmail(input);
  if (r.ok) throw new Error(`expected ${JSON.stringify(input)} to be refused, got ${JSON.stringify(r.value)}`);
  expect(r.field).toBe("email");
  expect(r.code).toBe("INVALID_EMAIL");
  expect(r.error.startsWith("email")).toBe(true);
  expect(r.error).toContain(" — "); // what is wrong — what to do
  return r.error;
}

function acceptedEmail(input: string) {
  const r = validateEmail(input);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(input)} to be accepted, got: ${r.error}`);
  return r.value;
}

/** A domain of exactly n characters made of valid labels (n ≥ 5). */
function domainOfLength(n: number): string {
  const labels: string[] = [];
  let left = n - 4; // room before ".com"
  while (left > 0) {
    const take = Math.min(63, left);
    if (labels.length > 0) left--; // the dot
    const size = Math.min(take, left);
    if (size <= 0) break;
    labels.push("d".repeat(size));
    left -= size;
  }
  const d = `${labels.join(".")}.com`;
  if (d.length !== n) throw new Error(`domainOfLength(${n}) built ${d.length}`);
  return d;
}

describe("validateEmail: accepted addresses", () => {
  const valid: [string, Partial<ReturnType<typeof acceptedEmail>>][] = [
    ["ivan@example.com", { address: "ivan@example.com", asciiAddress: "ivan@example.com", local: "ivan", domain: "example.com", asciiDomain: "example.com" }],
    ["first.last@sub.example.co.uk", {}],
    ["user+tag@example.org", {}],
    ["x@x.au", {}],
    ["a@b.c", {}],
    ["Ivan.Petrov@Example.COM", { local: "Ivan.Petrov", domain: "Example.COM", asciiDomain: "example.com", asciiAddress: "Ivan.Petrov@example.com" }],
    ["!#$%&'*+-/=?^_`{|}~@example.com", {}],
    ["customer/department=shipping@example.com", {}],
    ["user%uucp!path@berkeley.edu", {}],
    ["_somename@example.com", {}],
    ["1234567890@example.com", {}],
    ["xn--test@example.com", {}],
    ["test@c--n.com", {}],
    ["test@3com.com", {}],
    ["test@123.example.com", {}],
    ["test@example.x123", {}],
    ["test@example.co-uk", {}],
    ["ivan@example.test", {}],
    ["ivan@host.localhost", {}],
    ["  ivan@example.com  ", { address: "ivan@example.com" }],
    ["\tivan@example.com\t", { address: "ivan@example.com" }],
    // Internationalised domains.
    ["ivan@пример.рф", { address: "ivan@пример.рф", domain: "пример.рф", asciiDomain: "xn--e1afmkfd.xn--p1ai", asciiAddress: "ivan@xn--e1afmkfd.xn--p1ai" }],
    ["ivan@ПРИМЕР.РФ", { domain: "ПРИМЕР.РФ", asciiDomain: "xn--e1afmkfd.xn--p1ai" }],
    ["ivan@xn--e1afmkfd.xn--p1ai", { asciiDomain: "xn--e1afmkfd.xn--p1ai" }],
    ["jeff@臺網中心.tw", { asciiDomain: "xn--fiqq24b10vi0d.tw" }],
    ["hans@münchen.de", { asciiDomain: "xn--mnchen-3ya.de" }],
    ["hans@mu\u0308nchen.de", { asciiDomain: "xn--mnchen-3ya.de" }], // decomposed ü (NFD) is the same text
    ["test@παράδειγμα.δοκιμή", { asciiDomain: "xn--hxajbheg2az3al.xn--jxalpdlp" }],
    ["test@xn--hxajbheg2az3al.xn--jxalpdlp", {}],
    ["ivan@straße.de", { asciiDomain: "xn--strae-oqa.de" }], // non-transitional: ß stays ß
  ];
  test.each(valid)("%p", (input, expected) => {
    const v = acceptedEmail(input);
    expect(v).toMatchObject(expected);
    expect(v.asciiAddress).toBe(`${v.local}@${v.asciiDomain}`);
    expect(v.asciiAddress).toMatch(/^[\x21-\x7e]+$/);
  });

  test("пример.рф converts with node:url in Bun", () => {
    expect(domainToASCII("пример.рф")).toBe("xn--e1afmkfd.xn--p1ai");
  });
});

describe("validateEmail: refused addresses, with reasons", () => {
  // [input, substrings the reason must contain]
  const invalid: [unknown, string[]][] = [
    // Not a string.
    [42, ["email must be a string", "not a number"]],
    [null, ["email must be a string", "not null"]],
    [{}, ["email must be a string", "not an object"]],
    [["ivan@x.org"], ["email must be a string", "not a list"]],
    [undefined, ["email must be a string", "missing"]],
    // Empty.
    ["", ["is empty", "type your address"]],
    ["   ", ["is empty"]],
    // Display names and angle brackets.
    ["Ivan <ivan@x.org>", ["display name", '("Ivan")', "enter only the address, e.g. ivan@x.org, without a name or angle brackets"]],
    ['"Ivan Petrov" <ivan@x.org>', ["display name", "e.g. ivan@x.org"]],
    ["<ivan@x.org>", ["angle brackets", "e.g. ivan@x.org"]],
    ["Ivan <ivan@-x.org>", ["display name", "without a name or angle brackets", "starts with a hyphen"]],
    // Structure around the @.
    ["ivan.example.com", ["has no @", "name@example.com"]],
    ["ivan@@example.com", ["2 @ signs", "exactly one"]],
    ["a@b@c.example.com", ["2 @ signs"]],
    ["@example.com", ["nothing before the @", "name@example.com"]],
    ["ivan@", ["nothing after the @", "ivan@example.com"]],
    ["@", ["nothing before or after the @"]],
    ["hello＠example.com", ["U+FF20", "full-width at sign", "instead of the ordinary @"]],
    // Local part.
    [".ivan@example.com", ["starts with a dot"]],
    ["ivan.@example.com", ["ends with a dot"]],
    ["iv..an@example.com", ["two dots in a row"]],
    ["iv,an@example.com", ['contains ","', "not allowed"]],
    ["[ivan]@example.com", ['contains "["']],
    ['"john smith"@example.com', ["double quote", "quoted addresses", "not supported"]],
    ['"ivan"@example.com', ["double quote"]],
    ["ivan(work)@example.com", ["parenthesis", "comments"]],
    ["(comment)ivan@example.com", ["parenthesis"]],
    ["ivan\\@x@example.com", ["backslash"]],
    ["ivan petrov@example.com", ["contains a space at position 5", "no spaces"]],
    ["дмитрий@пример.рф", ["non-ASCII character", '"д"', "U+0434", "SMTPUTF8"]],
    ["jeff葉@臺網中心.tw", ["non-ASCII", "SMTPUTF8"]],
    // Domain.
    ["ivan@localhost", ["has no dot", "full domain name"]],
    ["postbox@com", ["has no dot"]],
    ["ivan@[192.0.2.1]", ["IP address literal", "[192.0.2.1]", "domain name"]],
    ["ivan@[IPv6:2001:db8::1]", ["IP address literal"]],
    ["ivan@192.0.2.1", ["all-numeric label", '"1"']],
    ["ivan@example.123", ["all-numeric label"]],
    ["ivan@.example.com", ["starts with a dot"]],
    ["ivan@example.com.", ["ends with a dot", "remove the final dot"]],
    ["ivan@example..com", ["two dots in a row"]],
    ["ivan@-example.com", ['"-example"', "starts with a hyphen"]],
    ["ivan@example-.com", ["ends with a hyphen"]],
    ["ivan@example.com-", ["ends with a hyphen"]],
    ["ivan@ex_ample.com", ['contains "_"', "letters, digits, hyphens and dots"]],
    ["ivan@example.com>", ['contains ">"']],
    ["ivan@sub.do,com", ['contains ","']],
    ["ivan@yy--0.com", ['"--" in the third and fourth places']],
    ["ivan@xn--example.com", ['"xn--example"', "not a valid one"]],
    ["ivan@xn--0.tld", ["not a valid one"]],
    // Look-alikes, symbols and broken IDNA.
    ["ivan@ｇｍａｉｌ.com", ['"ｇ"', "U+FF47", "look-alike", 'retype it as "g"']],
    ["ivan@example．com", ["U+FF0E", "as a dot", "ordinary dot"]],
    ["jeff@臺網中心。tw", ["U+3002", "ideographic full stop", "as a dot"]],
    ["ivan@yy－－0.com", ["U+FF0D", "look-alike", 'retype it as "-"']],
    ["ivan@⒈example.com", ["not a valid internationalised domain name"]],
    ["ivan@\u037e.com", ["U+037E", "not a letter or digit"]],
    ["ivan@domain.com©", ["U+00A9", "not a letter or digit"]],
    ["ivan@💩.la", ["U+1F4A9", "not a letter or digit"]],
    ["ivan@xn--ls8h.la", ['"xn--ls8h" ("💩")', "U+1F4A9", "not a letter or digit"]],
    ["ivan@a\u0661.com", ["not a valid internationalised domain name"]],
    // Control, invisible and space characters: named, escaped, positioned.
    ["ivan@example.com\n", ["line break", "U+000A (line feed)", "at position 17", "\\n", "single line"]],
    ["ivan@example.com\r\nBcc: x@evil.com", ["line break", "U+000D (carriage return)"]],
    ["\nivan@example.com", ["U+000A"]],
    ["iv\u0000an@example.com", ["control character", "U+0000 (NUL)", "at position 3", "\\u0000"]],
    ["ivan@exa\u0007mple.com", ["U+0007 (BEL)"]],
    ["ivan@example.com\u007f", ["U+007F (delete)"]],
    ["ivan@exam\u0085ple.com", ["U+0085 (next line)"]],
    ["ivan@exam\u009cple.com", ["U+009C", "control character"]],
    ["iv\tan@example.com", ["U+0009 (tab)", "control character"]],
    ["ivan@example.com\u2028", ["U+2028 (line separator)", "single line"]],
    ["ivan@example.com\u2029", ["U+2029 (paragraph separator)"]],
    ["ivan\u00a0petrov@example.com", ["space character", "U+00A0 (no-break space)", "\\u00a0"]],
    ["ivan@exa\u3000mple.com", ["U+3000 (ideographic space)"]],
    ["\u200bivan@example.com", ["invisible formatting character", "U+200B (zero-width space)", "\\u200b"]],
    ["ivan@exam\u200dple.com", ["U+200D (zero-width joiner)"]],
    ["\ufeffivan@example.com", ["U+FEFF", "byte order mark"]],
    ["ivan@\u202eexample.com", ["U+202E (right-to-left override)"]],
    ["ivan@exam\u00adple.com", ["U+00AD (soft hyphen)"]],
    ["\ud800@example.com", ["unpaired surrogate", "U+D800", "\\ud800"]],
    ["ivan@\ue000.com", ["private-use character", "U+E000"]],
    ["ivan@\ufdef.com", ["noncharacter", "U+FDEF"]],
  ];
  test.each(invalid)("%p", (input, parts) => {
    const error = refusedEmail(input);
    for (const p of parts) expect(error).toContain(p);
  });

  test("reasons never contain raw control or invisible characters", () => {
    for (const [input] of invalid) {
      const r = validateEmail(input);
      if (!r.ok) expect(r.error).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}\u00a0\u3000]/u);
    }
  });

  test("a huge input is not echoed in full", () => {
    const huge = "x".repeat(100_000) + "@example.com";
    const error = refusedEmail(huge);
    expect(error.length).toBeLessThan(400);
    expect(error).toContain("…");
    expect(error).toContain("100,012 characters");
  });

  test("pathological input is handled in linear time", () => {
    const started = performance.now();
    for (const s of ["a" + " ".repeat(60_000) + "b", " ".repeat(60_000) + "a", "<".repeat(60_000), "a@" + "b.".repeat(30_000)]) {
      refusedEmail(s);
    }
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("validateEmail: length edges", () => {
  test(`local part: ${MAX_LOCAL_OCTETS} accepted, ${MAX_LOCAL_OCTETS + 1} refused`, () => {
    acceptedEmail(`${"a".repeat(64)}@example.com`);
    const error = refusedEmail(`${"a".repeat(65)}@example.com`);
    expect(error).toContain("the part before the @ is 65 characters long; the limit is 64");
  });

  test("domain label: 63 accepted, 64 refused", () => {
    acceptedEmail(`ivan@${"l".repeat(63)}.com`);
    expect(refusedEmail(`ivan@${"l".repeat(64)}.com`)).toContain("is 64 characters long; the limit is 63");
  });

  test(`whole address: ${MAX_ADDRESS_OCTETS} accepted, ${MAX_ADDRESS_OCTETS + 1} refused`, () => {
    const at254 = `${"a".repeat(64)}@${domainOfLength(254 - 65)}`;
    expect(at254.length).toBe(254);
    expect(acceptedEmail(at254).asciiAddress.length).toBe(254);
    const at255 = `${"a".repeat(64)}@${domainOfLength(255 - 65)}`;
    expect(at255.length).toBe(255);
    expect(refusedEmail(at255)).toContain("is 255 characters long; the limit is 254");
  });

  test("domain: 254 refused as too long a domain; the 254-character address limit binds first", () => {
    // With the shortest local part, a domain can have 252 characters (1 + 1 + 252 = 254).
    acceptedEmail(`a@${domainOfLength(252)}`);
    expect(refusedEmail(`a@${domainOfLength(253)}`)).toContain("is 255 characters long; the limit is 254");
    expect(refusedEmail(`a@${domainOfLength(254)}`)).toContain("the domain is 254 characters long; the limit is 253");
  });

  test("the length limit applies to the ASCII (punycode) form of an internationalised domain", () => {
    // 60 Cyrillic letters fit in 63 characters typed, but not once encoded.
    const label = "я".repeat(60);
    const error = refusedEmail(`ivan@${label}.рф`);
    expect(error).toContain("in its ASCII form");
    expect(error).toContain("the limit is 63");
    // The whole address: short as typed, over 254 as sent.
    const idnLabel = "пример".repeat(5); // 30 letters → 39-character A-label
    const domain = [idnLabel, idnLabel, idnLabel, idnLabel, idnLabel, "рф"].join(".");
    const typed = `${"a".repeat(60)}@${domain}`;
    expect(typed.length).toBeLessThan(254);
    const ascii = domainToASCII(domain);
    expect(60 + 1 + ascii.length).toBeGreaterThan(254);
    expect(refusedEmail(typed)).toContain("in the ASCII form used for sending");
  });
});

describe("validateMessage", () => {
  function refusedMessage(input: unknown, max?: number): string {
    const r = validateMessage(input, max);
    if (r.ok) throw new Error(`expected refusal, got ${JSON.stringify(r.value)}`);
    expect(r.field).toBe("message");
    expect(r.code).toBe("INVALID_MESSAGE");
    expect(r.error.startsWith("message")).toBe(true);
    expect(r.error).toContain(" — ");
    return r.error;
  }
  function accepted(input: string, max?: number): string {
    const r = validateMessage(input, max);
    if (!r.ok) throw new Error(`expected acceptance, got: ${r.error}`);
    return r.value;
  }

  const normalised: [string, string][] = [
    ["Hello!", "Hello!"],
    ["Hello!\r\nSecond line", "Hello!\nSecond line"],
    ["old\rmac\rstyle", "old\nmac\nstyle"],
    ["mixed\r\n\r\nends\n\rhere", "mixed\n\nends\n\nhere"],
    ["\n\n  \n\t\nfirst\n", "first"],
    ["  indented first line\n    and code", "  indented first line\n    and code"],
    ["para one\n\n\npara two", "para one\n\n\npara two"],
    ["inner  spaces\tand\ttabs   kept", "inner  spaces\tand\ttabs   kept"],
    ["trailing spaces on a line   \nnext", "trailing spaces on a line   \nnext"],
    ["end whitespace \t \r\n\r\n  \n", "end whitespace"],
    ["emoji 😀 and Кириллица and 中文", "emoji 😀 and Кириллица and 中文"],
    ["zero-width joiner family 👨‍👩‍👧 stays", "zero-width joiner family 👨‍👩‍👧 stays"],
  ];
  test.each(normalised)("normalises %p", (input, expected) => {
    const out = accepted(input);
    expect(out).toBe(expected);
    // Round trip: the normalised text is valid and unchanged by a second pass, survives JSON
    // (the wire format) and UTF-8.
    expect(accepted(out)).toBe(out);
    expect(JSON.parse(JSON.stringify(out))).toBe(out);
    expect(new TextDecoder().decode(new TextEncoder().encode(out))).toBe(out);
  });

  test("not a string", () => {
    expect(refusedMessage(5)).toContain("message must be a string");
    expect(refusedMessage(null)).toContain("message must be a string");
    expect(refusedMessage({ text: "x" })).toContain("message must be a string");
    expect(refusedMessage(undefined)).toContain("message must be a string");
  });

  test.each(["", "   ", "\n\n", "\r\n\t \r\n", "\u00a0\u3000"])("empty: %p", (input) => {
    expect(refusedMessage(input)).toBe("message is empty — type the text of your request");
  });

  test("control characters are named with line and column", () => {
    expect(refusedMessage("line one\nline two\nab\u0007cd")).toContain("U+0007 (BEL) at line 3, column 3");
    expect(refusedMessage("nul\u0000")).toContain("U+0000 (NUL) at line 1, column 4");
    expect(refusedMessage("a\r\nb\u001b[31m")).toContain("U+001B (escape) at line 2, column 2");
    expect(refusedMessage("form\ffeed")).toContain("U+000C (form feed)");
    expect(refusedMessage("vertical\u000btab")).toContain("U+000B (vertical tab)");
    expect(refusedMessage("del\u007f")).toContain("U+007F (delete)");
    expect(refusedMessage("c1\u0085")).toContain("U+0085 (next line)");
    expect(refusedMessage("c1\u009b")).toContain("U+009B");
    expect(refusedMessage("😀😀\u0007")).toContain("line 1, column 3"); // columns count code points
    const e = refusedMessage("x\u0001");
    expect(e).toContain("only line breaks and tabs are allowed");
    expect(e).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  test("unpaired surrogates are refused", () => {
    expect(refusedMessage("ok\n\ud800 broken")).toContain("unpaired surrogate U+D800 at line 2, column 1");
    expect(refusedMessage("x\udc00")).toContain("U+DC00");
    expect(accepted("pair \ud83d\ude00 ok")).toBe("pair 😀 ok");
  });

  test(`length: ${DEFAULT_MAX_MESSAGE_CHARS} code points by default, emoji count as one`, () => {
    expect(accepted("a".repeat(10_000))).toHaveLength(10_000);
    expect(refusedMessage("a".repeat(10_234))).toBe(
      "message is 10,234 characters; the limit is 10,000 — shorten it by at least 234 (characters are counted as Unicode code points: an emoji usually counts as 1)",
    );
    expect(accepted("😀".repeat(10_000))).toHaveLength(20_000); // UTF-16 units, but 10,000 characters
    expect(refusedMessage("😀".repeat(10_001))).toContain("message is 10,001 characters");
  });

  test("length is measured after normalisation", () => {
    expect(accepted("ab\r\n".repeat(3_333) + "x")).toHaveLength(3_333 * 3 + 1); // CRLF counts as one
    expect(accepted("\n".repeat(500) + "a".repeat(10_000) + " ".repeat(500))).toHaveLength(10_000);
  });

  test("the limit is configurable", () => {
    expect(accepted("hello", 5)).toBe("hello");
    expect(refusedMessage("hello!", 5)).toContain("message is 6 characters; the limit is 5");
    expect(accepted("a".repeat(20_000), 20_000)).toHaveLength(20_000);
    expect(() => validateMessage("x", 0)).toThrow(RangeError);
    expect(() => validateMessage("x", Number.NaN)).toThrow(RangeError);
  });

  test("pathological whitespace is handled in linear time", () => {
    const started = performance.now();
    accepted("a" + " ".repeat(60_000) + "b", 100_000);
    refusedMessage(" ".repeat(60_000) + "\n".repeat(60_000));
    accepted(" \n".repeat(30_000) + "x");
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("the README's Validation section", () => {
  const doc = readmeSection("Validation");

  test("starts with the section heading (README, or its docs/ page)", () => {
    expect(/^#{1,2} Validation\n/.test(doc)).toBe(true);
  });

  test("its example reasons are the real ones", () => {
    const r1 = validateEmail("Ivan <ivan@x.org>");
    const r2 = validateMessage("a".repeat(10_234));
    expect(r1.ok || r2.ok).toBe(false);
    if (!r1.ok) expect(doc).toContain(r1.error);
    if (!r2.ok) expect(doc).toContain(r2.error);
  });
});
