// lib/shared/simple-mail.ts must give what mailparser gives: parseMail (which takes the fast
// path where it can) against parseMailWithMailparser, deep-equal, over every message of the
// shared corpus, the bench message mix and edge cases. Counts of messages that took the fast
// path are printed; each group also checks that the fast path was taken where it should be, so
// a fast path that declines everything cannot pass.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_TEXT_CHARS, parseMail, parseMailWithMailparser } from "../../lib/shared/mail-text";
import { parseSimpleMail } from "../../lib/shared/simple-mail";
import { generateMessages } from "../../bench/messages";
import { CORPORA } from "../helpers/env";

setDefaultTimeout(60_000);

const EMAILS = join(CORPORA, "emails");
const INDEX = join(EMAILS, "INDEX.tsv");

/** Both ways, each settled (a rejection is compared by its message). */
async function bothWays(raw: Buffer) {
  const settle = (p: Promise<unknown>) => p.then((ok) => ({ ok }), (err: Error) => ({ err: err.message }));
  return { fast: await settle(parseMail(raw)), full: await settle(parseMailWithMailparser(raw)), took: tookFastPath(raw) };
}

function tookFastPath(raw: Buffer): boolean {
  try {
    return parseSimpleMail(raw, MAX_TEXT_CHARS) !== null;
  } catch {
    return false;
  }
}

/** Runs both ways over the messages; returns how many took the fast path, fails listing every
 *  message where they differ. */
async function compare(messages: [string, Buffer][]): Promise<{ fast: number; names: Set<string> }> {
  const differ: string[] = [];
  const names = new Set<string>();
  for (const [name, raw] of messages) {
    const { fast, full, took } = await bothWays(raw);
    if (took) names.add(name);
    if (!Bun.deepEquals(fast, full, true)) differ.push(`${name}: ${JSON.stringify(fast).slice(0, 300)} ≠ ${JSON.stringify(full).slice(0, 300)}`);
  }
  expect(differ).toEqual([]);
  return { fast: names.size, names };
}

describe.skipIf(!existsSync(INDEX))("fast path = mailparser over the shared corpus", () => {
  test("every message of ../shared/corpora/emails (INDEX.tsv)", async () => {
    const files = readFileSync(INDEX, "utf8").trim().split("\n").slice(1).map((line) => line.split("\t")[0]!);
    const messages = files.map((f): [string, Buffer] => [f, readFileSync(join(EMAILS, f))]);
    const { fast } = await compare(messages);
    console.log(`simple-mail corpus: ${fast} of ${messages.length} messages took the fast path`);
    expect(messages.length).toBeGreaterThan(700);
    expect(fast).toBeGreaterThan(100);
  });
});

describe("fast path = mailparser over the bench message mix", () => {
  test("1,000 generated messages; every single-part one takes the fast path", async () => {
    const generated = generateMessages(1000, 3);
    const { fast, names } = await compare(generated.map((m, i) => [`${i}:${m.shape}`, m.raw]));
    const single = generated.filter((m) => !["alternative", "mixed"].includes(m.shape)).length;
    console.log(`simple-mail bench mix: ${fast} of ${generated.length} messages took the fast path`);
    expect(fast).toBe(single);
    expect([...names].every((n) => !/alternative|mixed/.test(n))).toBe(true);
  });
});

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"), "utf8");
const lf = (s: string) => Buffer.from(s, "utf8");
const bytes = (...parts: (string | number[] | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));
const head = "From: Ivan <ivan@example.com>\nSubject: hello\nMessage-ID: <m1@example.com>\n";
const utf8Words = (() => {
  const b = Buffer.from("Привет", "utf8"); // split inside the second character
  return `=?UTF-8?B?${b.subarray(0, 3).toString("base64")}?= =?UTF-8?B?${b.subarray(3).toString("base64")}?=`;
})();
const cp1251 = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]); // "Привет"

/** [name, message, whether it must take the fast path] */
const EDGE: [string, Buffer, boolean][] = [
  ["plain LF", lf(`${head}\nHello\nworld\n`), true],
  ["plain CRLF", crlf(`${head}\nHello\nworld\n`), true],
  ["mixed line ends", bytes(head, "\r\nline1\r\nline2\nline3\r\r\nend"), true],
  ["bare CR only (no LF at all: all header)", bytes("Subject: a\rFrom: b@c.d\r\rbody\r"), true],
  ["bare CR in body", bytes(head, "\nab\rcd\r\n\r"), true],
  ["encoded-word subject split mid-character", crlf(`Subject: ${utf8Words}\nFrom: a@b.c\n\nx\n`), true],
  ["encoded-word subject, Q and B mixed, cp1251", crlf(`Subject: =?windows-1251?Q?=CF=F0?= =?windows-1251?B?${cp1251.subarray(2).toString("base64")}?= tail\n\nx\n`), true],
  ["folded headers", crlf(`Subject: a long\n  folded\n\tsubject\nFrom: "Ivan\n Petrov" <ivan@example.com>\nMessage-ID:\n <folded@x>\n\nbody\n`), true],
  ["duplicate headers", crlf(`Subject: first\nSubject: second\nFrom: a@x.y\nFrom: b@x.y\nMessage-ID: <1@x>\nMessage-ID: <2@x>\nContent-Type: text/plain; charset=koi8-r\nContent-Type: text/html\n\n\xf0\n`), true],
  ["missing Subject and From", crlf(`To: x@y.z\n\nbody\n`), true],
  ["empty Subject and From", crlf(`Subject:\nFrom: \nMessage-ID:\n\nbody\n`), true],
  ["8-bit UTF-8 headers", crlf(`Subject: Привет мир\nFrom: Иван <ivan@example.com>\n\nтело\n`), true],
  ["8-bit latin1 headers", bytes("Subject: caf", [0xe9], "\r\nFrom: Andr", [0xe9], " <a@b.c>\r\n\r\nbody\r\n"), true],
  ["8-bit subject with encoded-word", crlf(`Subject: ü ${utf8Words}\n\nx\n`), true],
  ["QP soft breaks and bad escapes", crlf(`${head}Content-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =3D =ZZ =4 trailing   \nend=\n`), true],
  ["QP cp1251", crlf(`${head}Content-Type: text/plain; charset=windows-1251\nContent-Transfer-Encoding: quoted-printable\n\n${[...cp1251].map((b) => "=" + b.toString(16).toUpperCase()).join("")}=\n, mir\n`), true],
  ["base64 with whitespace and garbage", crlf(`${head}Content-Transfer-Encoding: base64\n\n ${Buffer.from("Hello base64 world").toString("base64").replace(/(.{5})/g, "$1 \t!*")}\n`), true],
  ["base64 padded segments", crlf(`${head}Content-Transfer-Encoding: base64\n\n${Buffer.from("ab").toString("base64")}\n${Buffer.from("cde").toString("base64")}\n${Buffer.from("f").toString("base64")}`), true],
  ["base64 unterminated last line", bytes(head, "Content-Transfer-Encoding: base64\n\n", Buffer.from("first line\n").toString("base64"), "\n", Buffer.from("tail").toString("base64").slice(0, 5)), true],
  ["base64 invalid utf-8", crlf(`${head}Content-Transfer-Encoding: base64\n\n${Buffer.from([0xff, 0xfe, 0xc3, 0x41, 0xe2, 0x82]).toString("base64")}\n`), true],
  ["unknown charset", bytes(head, "Content-Type: text/plain; charset=x-no-such-thing\n\nabc ", [0xe9, 0xc3, 0xa9], "\n"), true],
  ["charset 437", bytes(head, "Content-Type: text/plain; charset=437\n\n", [0x82, 0x9c, 0xb0], "\n"), true],
  ["charset latin1 / iso-8859-1 (windows-1252)", bytes(head, "Content-Type: text/plain; charset=\"ISO-8859-1\"\n\n", [0x80, 0xe9, 0x9f], "\n"), true],
  ["charset ks_c_5601-1987", bytes(head, "Content-Type: text/plain; charset=ks_c_5601-1987\n\n", [0xb0, 0xa1, 0xb0, 0xa2], "\n"), true],
  ["charset us-ascii with 8-bit bytes", bytes(head, "Content-Type: text/plain; charset=us-ascii\n\n", [0xe9, 0xc3, 0xa9], "\n"), true],
  ["charset UTF8 spelt oddly", bytes(head, "Content-Type: text/plain; charset=\"Utf_8\"\n\n", [0xc3, 0xa9, 0xff], "\n"), true],
  ["utf-16 with BOM", bytes(head, "Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n", Buffer.from([0xff, 0xfe, ...Buffer.from("hi 😀", "utf16le")]).toString("base64"), "\n"), true],
  ["utf-16le odd length (lone surrogate)", bytes(head, "Content-Type: text/plain; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n", Buffer.from([...Buffer.from("a😀", "utf16le").subarray(0, 4), 0x41]).toString("base64"), "\n"), true],
  ["charset in RFC 2231 form", bytes(head, "Content-Type: text/plain; charset*=utf-8''x\n\n", [0xc3, 0xa9], "\n"), true],
  ["empty body", crlf(`${head}\n`), true],
  ["empty message", Buffer.alloc(0), true],
  ["header without blank line", lf(`Subject: only\nFrom: a@b.c`), true],
  ["header without blank line, final LF", lf(`Subject: only\nFrom: a@b.c\n`), true],
  ["blank line first", lf(`\nSubject: not a header\n`), true],
  ["body of line breaks", crlf(`${head}\n\n\n \n\t\n`), true],
  ["body over MAX_TEXT_CHARS", bytes(head, "\n", Buffer.alloc(MAX_TEXT_CHARS + 500, "a"), "\n"), true],
  ["multi-byte body over MAX_TEXT_CHARS", bytes(head, "\n", Buffer.from(("ж".repeat(99) + "\n").repeat(MAX_TEXT_CHARS / 100 + 10))), true],
  ["body over the byte budget (mailparser drops bytes)", bytes(head, "\n", Buffer.alloc(MAX_TEXT_CHARS * 4 + 10, "b\n")), false],
  ["unterminated last line over 64 KiB", bytes(head, "\n", Buffer.alloc(70_000, "c")), false],
  ["NUL bytes", bytes("Subject: a", [0], "b\nFrom: a@b.c\n\nx", [0, 0], "y\n"), true],
  ["Content-Type with comments after parameters", crlf(`${head}Content-Type: text/plain; charset="koi8-r" (cyrillic); format=fixed (not flowed)\n\n\xf0\xd2\n`), true],
  ["Content-Type with a comment after the type (mailparser: an attachment)", crlf(`${head}Content-Type: text/plain (plain text); charset=koi8-r\n\n\xf0\xd2\n`), false],
  ["upper-case type and CTE", crlf(`${head}Content-Type: TEXT/PLAIN; CHARSET=UTF-8\nContent-Transfer-Encoding: BASE64\n\n${Buffer.from("up").toString("base64")}\n`), true],
  ["CTE Quoted-Printable with a comment", crlf(`${head}Content-Transfer-Encoding: Quoted-Printable (qp)\n\na=3Db\n`), true],
  ["CTE 7BIT, 8bit, binary, unknown", crlf(`${head}Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n`), true],
  ["Content-Type: text (no subtype)", crlf(`${head}Content-Type: text; charset=koi8-r\n\n\xf0\n`), true],
  ["Content-Type empty", crlf(`${head}Content-Type:\n\nbody\n`), true],
  ["Content-Disposition inline", crlf(`${head}Content-Disposition: inline\n\nbody\n`), true],
  ["Content-Disposition inline with filename", crlf(`${head}Content-Disposition: inline; filename=a.txt\n\nbody\n`), true],
  ["Content-Disposition odd (fixed to inline)", crlf(`${head}Content-Disposition: quoted-printable\n\nbody\n`), true],
  ["Content-Disposition odd with filename", crlf(`${head}Content-Disposition: odd; filename=a.txt\n\nbody\n`), false],
  ["Content-Disposition attachment", crlf(`${head}Content-Disposition: attachment\n\nbody\n`), false],
  ["no Content-Type, disposition names a .txt", crlf(`${head}Content-Disposition: inline; filename="notes.txt"\n\nbody\n`), true],
  ["no Content-Type, disposition names a .pdf", crlf(`${head}Content-Disposition: inline; filename="x.pdf"\n\nbody\n`), false],
  ["format=flowed", crlf(`${head}Content-Type: text/plain; format=flowed\n\nflowed \nline\n> quoted \n> more\n-- \nsig\n`), true],
  ["format=flowed delsp=yes, QP", crlf(`${head}Content-Type: text/plain; format=flowed; delsp=yes\nContent-Transfer-Encoding: quoted-printable\n\nab \ncd=20\nef\n`), true],
  ["Reply-To with several addresses, From a group", crlf(`From: Team: a@x.y, b@x.y;\nReply-To: a@x.y, "B" <b@x.y>\n\nx\n`), true],
  ["From with an encoded-word that holds an address", crlf(`From: =?utf-8?B?${Buffer.from("Evil <evil@x.y>").toString("base64")}?=\n\nx\n`), true],
  ["From with punycode and encoded name", crlf(`From: =?utf-8?Q?J=C3=BCrgen?= <j@xn--mnchen-3ya.de>\nReply-To: <r@x.y>\n\nx\n`), true],
  ["Message-ID without brackets", crlf(`Message-ID: abc@x\n\nx\n`), true],
  ["header line without colon, space before colon", crlf(`Subject : spaced\nnot a header\nFrom: a@b.c\n\nx\n`), true],
  ["ISO-2022-JP (mailparser's own decoder)", crlf(`${head}Content-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B$3$s$K$A$O\x1b(B\n`), false],
  ["text/html", crlf(`${head}Content-Type: text/html\n\n<p>hi</p>\n`), false],
  ["message/rfc822", crlf(`${head}Content-Type: message/rfc822\n\nSubject: inner\n\ninner body\n`), false],
  ["multipart", crlf(`${head}Content-Type: multipart/mixed; boundary=b\n\n--b\n\npart\n--b--\n`), false],
  ["delivery-status", crlf(`${head}Content-Type: message/delivery-status\n\nStatus: 5.0.0\n`), false],
];

describe("fast path = mailparser on edge cases", () => {
  test("each edge case gives the same result both ways, and takes the path expected", async () => {
    const { names } = await compare(EDGE.map(([name, raw]) => [name, raw]));
    expect(EDGE.filter(([name, , fast]) => names.has(name) !== fast).map(([name, , fast]) => `${name}: expected ${fast ? "fast" : "mailparser"}`)).toEqual([]);
  });

  test("an input given as a Uint8Array view into a larger buffer", async () => {
    const whole = Buffer.concat([Buffer.from("junk"), crlf(`${head}\nview body\n`), Buffer.from("junk")]);
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 4, whole.length - 8);
    expect(await parseMail(view)).toEqual(await parseMailWithMailparser(view));
    expect((await parseMail(view)).text).toBe("view body");
  });
});
