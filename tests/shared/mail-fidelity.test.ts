// What a mail client shows where mailparser 3.9 on its own logs nothing or the wrong text
// (issue 12, "Text and subject fidelity"): HTML-only bodies beside attachments, text parts
// mailparser files as attachments, charset labels by alias, encoded-words split inside a
// multi-byte character.
import { describe, expect, test } from "bun:test";
import { parseMail } from "../../lib/shared/mail-text";
import { decodeBytes, resolveCharset } from "../../lib/shared/charsets";

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"), "utf8");
const png = "Content-Type: image/png\nContent-Disposition: attachment; filename=logo.png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n";

describe("HTML-only bodies beside attachments are converted", () => {
  test.each(["mixed", "related"])("multipart/%s: an HTML part and an image, no text/plain", async (sub) => {
    const raw = crlf(`Subject: x\nContent-Type: multipart/${sub}; boundary=b\n\n--b\nContent-Type: text/html; charset=utf-8\n\n<p>Ваш <b>запрос</b> принят</p>\n--b\n${png}--b--\n`);
    const mail = await parseMail(raw);
    expect(mail.text).toBe("Ваш запрос принят");
    expect(mail.attachments.map((a) => a.name)).toEqual(["logo.png"]);
  });

  test("with convertHtml false the main thread says the HTML needs converting", async () => {
    const raw = crlf(`Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>hi</p>\n--b\n${png}--b--\n`);
    expect((await parseMail(raw, { convertHtml: false })).htmlNotConverted).toBe(true);
  });

  test("multipart/related inside multipart/mixed (HTML, inline image, attachment)", async () => {
    const raw = crlf(`Subject: x\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<div>Ticket opened</div>\n--r\nContent-Type: image/png\nContent-ID: <i1>\n\nxx\n--r--\n--o\n${png}--o--\n`);
    expect((await parseMail(raw)).text).toBe("Ticket opened");
  });
});

describe("text parts mailparser files as attachments are the body", () => {
  test("Content-Type: text (no subtype)", async () => {
    const mail = await parseMail(crlf("Subject: x\nContent-Type: text\n\nhello body\n"));
    expect([mail.text, mail.attachments]).toEqual(["hello body", []]);
  });

  test("Content-Type: text; charset=windows-1251", async () => {
    const raw = Buffer.concat([crlf("Subject: x\nContent-Type: text; charset=windows-1251\nContent-Transfer-Encoding: 8bit\n\n"), Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2])]);
    const mail = await parseMail(raw);
    expect([mail.text, mail.attachments]).toEqual(["Привет", []]);
  });

  test("a transfer encoding written in Content-Disposition", async () => {
    const mail = await parseMail(crlf("Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: quoted-printable\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 open\n"));
    expect([mail.text, mail.attachments]).toEqual(["Café open", []]);
  });

  test("a text part with a real attachment disposition and file name stays an attachment", async () => {
    const raw = crlf(`Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nbody\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt\n\nnotes\n--b--\n`);
    const mail = await parseMail(raw);
    expect([mail.text, mail.attachments.map((a) => a.name)]).toEqual(["body", ["notes.txt"]]);
  });
});

describe("charset labels by alias", () => {
  test("charset=437 (IANA alias of IBM437) in a body and in an encoded-word", async () => {
    const raw = Buffer.concat([crlf("Subject: =?437?Q?Gr=81=E1e?=\nContent-Type: text/plain; charset=437\nContent-Transfer-Encoding: 8bit\n\n"), Buffer.from([0x47, 0x72, 0x81, 0xe1, 0x65])]);
    const mail = await parseMail(raw);
    expect([mail.subject, mail.text]).toEqual(["Grüße", "Grüße"]);
  });

  test.each([
    ["437", [0x81, 0xe1], "üß"], ["IBM437", [0x81, 0xe1], "üß"], ["850", [0x81, 0xe1], "üß"], ["866", [0x8f, 0xe0], "Пр"],
    ["1251", [0xcf, 0xf0], "Пр"], ["latin1", [0x80, 0xe9], "€é"], ["iso-8859-1", [0x80, 0xe9], "€é"], ["ks_c_5601-1987", [0xc7, 0xd1], "한"],
    ["x-sjis", [0x93, 0xfa], "日"], ["unicode-1-1-utf-8", [0xc3, 0xa9], "é"], ["x-mac-cyrillic", [0x8f, 0xf0], "Пр"],
    ["iso-8859-8-i", [0xf9], "ש"], ['"utf-8"', [0xc3, 0xa9], "é"], ["windows-1251 ", [0xcf], "П"],
  ])("label %p decodes", (label, bytes, text) => {
    expect(decodeBytes(Buffer.from(bytes as number[]), label as string)).toBe(text as string);
  });

  test("an unknown label is not guessed", () => {
    expect(resolveCharset("no-such-charset")).toBeNull();
    expect(decodeBytes(Buffer.from("é"), "no-such-charset")).toBe("é");
  });
});

describe("adjacent encoded-words of one charset are joined before decoding", () => {
  const word = Buffer.from("Привет", "utf8");
  const b64 = (b: Buffer) => `=?UTF-8?B?${b.toString("base64")}?=`;
  const q = (b: Buffer) => `=?utf-8?Q?${[...b].map((c) => "=" + c.toString(16).toUpperCase()).join("")}?=`;
  test.each([
    ["B then Q", `${b64(word.subarray(0, 1))} ${q(word.subarray(1))}`, "Привет"],
    ["Q then B, folded", `${q(word.subarray(0, 3))}\n ${b64(word.subarray(3))}`, "Привет"],
    ["text around", `Re: ${b64(word.subarray(0, 5))} ${q(word.subarray(5))} ok`, "Re: Привет ok"],
    ["two charsets stay apart", `=?iso-8859-1?Q?Caf=E9?= ${b64(word)}`, "CaféПривет"],
  ])("%s", async (_name, header, subject) => {
    expect((await parseMail(crlf(`Subject: ${header}\n\nbody\n`))).subject).toBe(subject);
  });
});
