import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_TEXT_CHARS, parseMail } from "../../lib/shared/mail-text";
import { CORPORA } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const EMAILS = join(CORPORA, "emails");
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"), "utf8");

describe("parseMail: text whatever it arrived as", () => {
  test("windows-1251 quoted-printable body and encoded-word subject", async () => {
    const cp1251 = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]); // "Привет" in windows-1251
    const qp = [...cp1251].map((b) => "=" + b.toString(16).toUpperCase()).join("");
    const raw = crlf(`Subject: =?windows-1251?Q?${qp}?=\nFrom: A <a@example.com>\nContent-Type: text/plain; charset=windows-1251\nContent-Transfer-Encoding: quoted-printable\n\n${qp}, =\nmir\n`);
    const mail = await parseMail(raw);
    expect(mail.subject).toBe("Привет");
    expect(mail.text).toBe("Привет, mir");
    expect(mail.from).toBe("a@example.com");
  });

  test("koi8-r base64 body", async () => {
    const koi = Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]); // "Привет" in koi8-r
    const raw = crlf(`Subject: x\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n${koi.toString("base64")}\n`);
    expect((await parseMail(raw)).text).toBe("Привет");
  });

  test("iso-8859-1 8bit body", async () => {
    const raw = Buffer.concat([crlf("Subject: x\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"), Buffer.from([0x43, 0x61, 0x66, 0xe9])]);
    expect((await parseMail(raw)).text).toBe("Café");
  });

  test("HTML-only mail becomes plain text", async () => {
    const raw = crlf(`Subject: x\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>Hello <b>there</b></p><p>Second&nbsp;para</p><script>evil()</script></body></html>\n`);
    const mail = await parseMail(raw);
    expect(mail.text).toContain("Hello there");
    expect(mail.text).toMatch(/Second\s+para/);
    expect(mail.text).not.toContain("<b>");
  });

  test("multipart/alternative takes the text part, not both", async () => {
    const raw = crlf(`Subject: x\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain version\n--b\nContent-Type: text/html\n\n<p>html version</p>\n--b--\n`);
    const mail = await parseMail(raw);
    expect(mail.text).toBe("plain version");
  });

  test("nested multipart with attachments: text only, attachments named and sized, not inlined", async () => {
    const pdf = Buffer.alloc(3000, 7).toString("base64");
    const raw = crlf(
      `Subject: report\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain; charset=utf-8\n\nSee attached.\n--inner\nContent-Type: text/html\n\n<p>See attached.</p>\n--inner--\n--outer\nContent-Type: application/pdf; name="r.pdf"\nContent-Disposition: attachment; filename="=?utf-8?Q?=D0=BE=D1=82=D1=87=D1=91=D1=82.pdf?="\nContent-Transfer-Encoding: base64\n\n${pdf}\n--outer--\n`,
    );
    const mail = await parseMail(raw);
    expect(mail.text).toBe("See attached.");
    expect(mail.attachments).toEqual([{ name: "отчёт.pdf", type: "application/pdf", size: 3000 }]);
  });

  test("no subject, no From, no body: nulls and empty text, no throw", async () => {
    const mail = await parseMail(Buffer.from("X-Nothing: here\r\n\r\n"));
    expect(mail).toMatchObject({ subject: null, from: null, messageId: null, text: "" });
  });

  test("garbage bytes still parse into something", async () => {
    const junk = Buffer.alloc(10_000);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 256;
    const mail = await parseMail(junk);
    expect(typeof mail.text).toBe("string");
  });

  test("a body longer than MAX_TEXT_CHARS is cut and marked", async () => {
    const raw = Buffer.concat([crlf("Subject: long\n\n"), Buffer.alloc(MAX_TEXT_CHARS + 500, "a")]);
    const mail = await parseMail(raw);
    expect(mail.text.length).toBe(MAX_TEXT_CHARS);
    expect(mail.textTruncated).toBe(true);
  });

  test("a ~30 MB message parsed from a stream keeps memory bounded (attachment never held)", async () => {
    // In a process of its own (tests/helpers/stream-rss.ts). RSS grows with garbage until the
    // collector runs, then levels off: a 90 MB attachment must cost well under its own size.
    const measure = async (attachmentMb: number) => {
      const proc = Bun.spawn(["bun", join(import.meta.dir, "../helpers/stream-rss.ts"), String(attachmentMb)], { stdout: "pipe", stderr: "inherit" });
      const r = JSON.parse(await new Response(proc.stdout).text());
      expect(await proc.exited).toBe(0);
      expect(r.text).toBe("small text");
      expect(r.attachments).toEqual([{ name: "big.bin", type: "application/octet-stream", size: r.expectedSize }]);
      console.log(`stream parse: ${attachmentMb} MB attachment (${r.mimeMb.toFixed(0)} MB of MIME), RSS growth ${r.growthMb.toFixed(1)} MB`);
      return r.growthMb as number;
    };
    await measure(30);
    expect(await measure(90)).toBeLessThan(60); // holding it would take more than 90
  }, 60_000);

  test("50 MB and 150 MB text bodies parsed from a stream: text kept only up to the cap, memory bounded", async () => {
    // before: the whole body was assembled, then cut (RSS growth 205 MB and 539 MB here)
    const measure = async (mb: number) => {
      const proc = Bun.spawn(["bun", join(import.meta.dir, "../helpers/stream-rss.ts"), String(mb), "text"], { stdout: "pipe", stderr: "inherit" });
      const r = JSON.parse(await new Response(proc.stdout).text());
      expect(await proc.exited).toBe(0);
      expect([r.textLength, r.textTruncated, r.text]).toEqual([MAX_TEXT_CHARS, true, "Z".repeat(20)]);
      console.log(`stream parse: ${mb} MB text body (${r.mimeMb.toFixed(0)} MB of MIME), RSS growth ${r.growthMb.toFixed(1)} MB`);
      return r.growthMb as number;
    };
    expect(await measure(50)).toBeLessThan(100);
    expect(await measure(150)).toBeLessThan(100);
  }, 90_000);
});

describe.skipIf(!existsSync(EMAILS))("parseMail on the shared corpus", () => {
  const read = (rel: string) => readFileSync(join(EMAILS, rel));

  test.each([
    ["mailcore2/summary/input/989-encoding-7.eml", "Тестовое сообщение в кодировке windows-1251", "Тестовое сообщение в кодировке windows-1251"],
    ["mailcore2/summary/input/989-encoding-6.eml", "Re: Test test", "Здравствуйте, Алекс. Кажется, вы сделали очень хорошую вещь"],
    ["mailcore2/summary/input/989-encoding-4.eml", "услуги перевода в Турции", "Добрый день, Марина."],
    ["mailcore2/summary/input/6144-russian.eml", 'Comment posted on "Что лучше Android или iOS..?!"', "MEHANIK8888 has made a comment on Что лучше Android или iOS"],
    ["mailcore2/summary/input/4850-russian.eml", null, "Уведомление участникам тендера № 158/11"],
  ])("%s decodes to known Cyrillic text", async (file, subject, phrase) => {
    const mail = await parseMail(read(file));
    if (subject !== null) expect(mail.subject).toBe(subject);
    expect(mail.text).toContain(phrase);
  });

  test("decoded bodies agree with the stalwart-mail-parser oracle (rfc/ and thirdparty/)", async () => {
    const root = join(EMAILS, "stalwart-mail-parser");
    let compared = 0;
    for (const dir of ["rfc", "thirdparty"]) {
      for (const file of readdirSync(join(root, dir)).filter((f) => f.endsWith(".eml"))) {
        const oraclePath = join(root, dir, file.replace(/\.eml$/, ".json"));
        if (!existsSync(oraclePath)) continue;
        const oracle = JSON.parse(readFileSync(oraclePath, "utf8"));
        const first = (oracle.text_body ?? []).map((i: number) => oracle.parts[i]?.body?.Text).find((t: unknown) => typeof t === "string");
        if (!first) continue;
        const norm = (s: string) => s.replace(/\s+/g, " ").trim();
        const mail = await parseMail(readFileSync(join(root, dir, file)));
        expect({ file: `${dir}/${file}`, contains: norm(mail.text).includes(norm(first).slice(0, 60)) }).toEqual({ file: `${dir}/${file}`, contains: true });
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
  }, 30_000);
});
