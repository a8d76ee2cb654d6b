import { expect, test } from "bun:test";
import { classify, unparsedEntry, type MessageMeta } from "../../lib/collector/classify";
import type { MailText } from "../../lib/shared/mail-text";
import { parseMail } from "../../lib/shared/mail-text";

const meta: MessageMeta = { uid: 7, uidValidity: 99, sha256: "ab".repeat(32), size: 123 };
const mail = (subject: string | null, extra: Partial<MailText> = {}): MailText => ({
  subject, from: "ivan@example.com", replyTo: null, messageId: "<m@x>", text: "Hello", textTruncated: false, attachments: [], warnings: [], ...extra,
});
const now = new Date("2026-01-02T03:04:05.000Z");

test.each([
  ["[Ticket #10001] Mailer", "10001", false],
  ["  [Ticket #10001] Mailer  ", "10001", false],
  ["Re: [Ticket #10001] Mailer", "10001", true],
  ["RE: re: [Ticket #123456789] Mailer", "123456789", true],
  ["Fwd: [Ticket #10001] Mailer", "10001", true],
  ["FW:[Ticket #10001] Mailer", "10001", true],
  ["Fw: Re: [Ticket #10001] Mailer", "10001", true],
] as const)("ticket subject %p → success, ticket %p, reply %p", (subject, ticket, reply) => {
  const r = classify(mail(subject), meta, now);
  expect(r.log).toBe("success");
  expect(r.entry.ticket).toBe(ticket);
  expect(r.entry.reply).toBe(reply ? true : undefined);
  expect(r.entry.reason).toBeUndefined();
});

test.each([
  ["[Ticket #abc] Mailer", /not in the ticket format/],
  ["[Ticket #12] Mailers", /not in the ticket format/],
  ["[Ticket #12] Mailer", /not in the ticket format/], // fewer than 5 digits
  ["[Ticket #10001] Mailer extra", /not in the ticket format/],
  ["AW: [Ticket #10001] Mailer", /not in the ticket format/], // only Re/Fwd/Fw are prefixes
  ["Lunch?", /"Lunch\?"/],
  ["", /no subject/],
  [null, /no subject/],
] as const)("non-ticket subject %p → error with a reason", (subject, reason) => {
  const r = classify(mail(subject), meta, now);
  expect(r.log).toBe("error");
  expect(r.entry.ticket).toBeUndefined();
  expect(r.entry.reason).toMatch(reason);
});

test("entries carry the DESIGN fields plus uidValidity, sha256, size; attachments only when present", () => {
  const ok = classify(mail("[Ticket #10001] Mailer"), meta, now).entry;
  expect(ok).toEqual({
    time: "2026-01-02T03:04:05.000Z", ticket: "10001", text: "Hello", from: "ivan@example.com", subject: "[Ticket #10001] Mailer",
    messageId: "<m@x>", uid: 7, uidValidity: 99, sha256: "ab".repeat(32), size: 123,
  });
  const withFiles = classify(mail("x", { attachments: [{ name: "a.pdf", type: "application/pdf", size: 5 }], textTruncated: true }), meta, now).entry;
  expect(withFiles.attachments).toEqual([{ name: "a.pdf", type: "application/pdf", size: 5 }]);
  expect(withFiles.textTruncated).toBe(true);
});

test("encoded-word subjects are matched after decoding (the whole chain from raw)", async () => {
  const b64 = Buffer.from("Re: [Ticket #10042] Mailer").toString("base64");
  const parsed = await parseMail(Buffer.from(`Subject: =?UTF-8?B?${b64}?=\r\n\r\nhi\r\n`));
  const r = classify(parsed, meta, now);
  expect(r).toMatchObject({ log: "success", entry: { ticket: "10042", reply: true } });
  const qp = await parseMail(Buffer.from(`Subject: =?iso-8859-1?Q?[Ticket_#10043]_Mailer?=\r\n\r\nhi\r\n`));
  expect(classify(qp, meta, now).entry.ticket).toBe("10043");
});

test("unparsed messages become one error entry with the reason", () => {
  const r = unparsedEntry(meta, "parsing took longer than 10 s and was stopped", "", now);
  expect(r).toEqual({
    log: "error",
    entry: { time: "2026-01-02T03:04:05.000Z", text: "", from: null, subject: null, messageId: null, uid: 7, uidValidity: 99, sha256: "ab".repeat(32), size: 123, reason: "parsing took longer than 10 s and was stopped" },
  });
});

test("Reply-To is kept when it differs from From (the server's admin copy: From admin, Reply-To the user)", async () => {
  const parsed = await parseMail(Buffer.from("From: admin@mailer.test\r\nReply-To: Ivan <ivan@example.com>\r\nSubject: [Ticket #10001] Mailer\r\n\r\nhi\r\n"));
  expect(classify(parsed, meta, now).entry).toMatchObject({ from: "admin@mailer.test", replyTo: "ivan@example.com" });
  const same = await parseMail(Buffer.from("From: ivan@example.com\r\nReply-To: ivan@example.com\r\nSubject: x\r\n\r\nhi\r\n"));
  expect(classify(same, meta, now).entry.replyTo).toBeUndefined();
});
