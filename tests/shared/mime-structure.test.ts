// Malformed MIME structure read as mail clients (GMime, Thunderbird) and RFC 2046 read it, where
// mailsplit (the splitter under mailparser) read it otherwise (issue 12, "Text and subject
// fidelity"; the corpus cases are in mail-fidelity-corpus.test.ts).
import { describe, expect, test } from "bun:test";
import { parseMail } from "../../lib/shared/mail-text";

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"), "utf8");
const text = async (s: string) => (await parseMail(crlf(`Subject: x\n${s}`))).text;

describe("delimiter lines with transport padding (RFC 2046 §5.1.1: receivers must handle it)", () => {
  test("spaces and tabs after a delimiter and after a close delimiter", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=b\n\n--b \nContent-Type: text/plain\n\none\n--b\t \nContent-Type: text/plain\n\ntwo\n--b--  \nepilogue\n";
    expect(await text(raw)).toBe("one\ntwo");
  });

  test("padding on a nested multipart's delimiters", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=o\n\n--o  \nContent-Type: multipart/alternative; boundary=i\n\n--i \nContent-Type: text/plain\n\nplain\n--i \nContent-Type: text/html\n\n<p>html</p>\n--i-- \n--o  \nContent-Type: text/plain\n\nafter\n--o--\n";
    expect(await text(raw)).toBe("plain\nafter");
  });

  test("other characters after the boundary still make no delimiter", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\n--bx\n--b x\n--b--\n";
    expect(await text(raw)).toBe("one\n--bx\n--b x");
  });
});

describe("a delimiter of an enclosing multipart ends every part nested in it", () => {
  test("the grandparent's delimiter inside a nested multipart never closed", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=1\n\n--1\nContent-Type: multipart/mixed; boundary=2\n\n--2\nContent-Type: text/plain\n\none\n--2\nContent-Type: text/plain\n\ntwo\n--1\nContent-Type: text/plain\n\nthree\n--1--\n";
    expect(await text(raw)).toBe("one\ntwo\nthree");
  });

  test("the grandparent's close delimiter ends both; its epilogue is not text", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=1\n\n--1\nContent-Type: multipart/mixed; boundary=2\n\n--2\nContent-Type: text/plain\n\none\n--1--\nepilogue\n";
    expect(await text(raw)).toBe("one");
  });

  test("three levels deep, boundaries that are prefixes of each other", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; boundary=abc\n\n--abc\nContent-Type: text/plain\n\ndeep\n--ab\nContent-Type: text/plain\n\nouter\n--ab--\n";
    expect(await text(raw)).toBe("deep\nouter");
  });

  test("a part with headers only, ended by the grandparent's delimiter, is still a part", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=1\n\n--1\nContent-Type: multipart/mixed; boundary=2\n\n--2\nContent-Type: text/plain\n\none\n--2\nContent-Type: image/png\nContent-Disposition: attachment; filename=a.png\n--1\nContent-Type: text/plain\n\nthree\n--1--\n";
    const mail = await parseMail(crlf(`Subject: x\n${raw}`));
    expect([mail.text, mail.attachments.map((a) => a.name)]).toEqual(["one\nthree", ["a.png"]]);
  });

  test("inside a forwarded message/rfc822, the container's delimiter ends the message", async () => {
    const raw = "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: text/plain\n\nintro\n--o\nContent-Type: message/rfc822\nContent-Disposition: inline\n\nSubject: fwd\nContent-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nforwarded\n--o\nContent-Type: text/plain\n\nlast\n--o--\n";
    const out = await text(raw);
    expect(out.startsWith("intro\n")).toBe(true);
    expect(out.endsWith("forwarded\nlast")).toBe(true);
  });
});

test("the same, streamed in chunks that cut delimiter lines anywhere", async () => {
  const raw = crlf("Subject: x\nContent-Type: multipart/mixed; boundary=1\n\n--1 \nContent-Type: multipart/mixed; boundary=2\n\n--2\t\nContent-Type: text/plain\n\none\n--1  \nContent-Type: text/plain\n\ntwo\n--1-- \nepilogue\n");
  for (const size of [1, 3, 7]) {
    async function* chunks() {
      for (let i = 0; i < raw.length; i += size) yield raw.subarray(i, i + size);
    }
    expect((await parseMail(chunks())).text).toBe("one\ntwo");
  }
});

test("a boundary that itself ends in a space matches only itself (james-mime4j weird-boundary)", async () => {
  const raw = 'Content-Type: multipart/mixed; boundary="b? "\n\n--b? \nContent-Type: text/plain\n\nText body\n--b?\nnot a delimiter\n--b? --\n';
  expect(await text(raw)).toBe("Text body\n--b?\nnot a delimiter");
});
