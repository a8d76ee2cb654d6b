import { describe, expect, test } from "bun:test";
import { formatSubject, parseSubject, subjectMismatchReason } from "../../lib/shared/subject";

describe("ticket subject", () => {
  test("format and parse are one round trip", () => {
    for (const ticket of ["10001", "12345", "99999", "100000", "123456789012"]) {
      expect(parseSubject(formatSubject(ticket))).toEqual({ ticket, reply: false });
    }
  });

  test("format refuses what is not a ticket number", () => {
    for (const bad of ["", "1234", "12a45", "-10001", "10001\r\nBcc: x@y.z"]) expect(() => formatSubject(bad)).toThrow();
  });

  test.each([
    ["[Ticket #10001] Mailer", { ticket: "10001", reply: false }],
    ["  [Ticket #10001] Mailer \t", { ticket: "10001", reply: false }],
    ["Re: [Ticket #10001] Mailer", { ticket: "10001", reply: true }],
    ["RE: re: [Ticket #10001] Mailer", { ticket: "10001", reply: true }],
    ["Fwd: [Ticket #10001] Mailer", { ticket: "10001", reply: true }],
    ["FW:[Ticket #10001] Mailer", { ticket: "10001", reply: true }],
    ["Re : Fw: [Ticket #42424242] Mailer", { ticket: "42424242", reply: true }],
  ])("matches %p", (subject, expected) => {
    expect(parseSubject(subject)).toEqual(expected);
  });

  test.each([
    "[Ticket #abc] Mailer",
    "[Ticket #12] Mailers",
    "[Ticket #10001] Mailers",
    "[Ticket #12] Mailer", // fewer than 5 digits: never issued
    "[Ticket #10001] Mailer extra",
    "Hello [Ticket #10001] Mailer",
    "[Ticket 10001] Mailer",
    "[ticket #10001] mailer",
    "Aw: [Ticket #10001] Mailer", // only Re/Fwd/Fw are prefixes
    "Re [Ticket #10001] Mailer",
    "",
    "   ",
  ])("refuses %p", (subject) => {
    expect(parseSubject(subject)).toBeNull();
  });

  test("missing subject is refused with a reason", () => {
    expect(parseSubject(undefined)).toBeNull();
    expect(parseSubject(null)).toBeNull();
    expect(subjectMismatchReason(undefined)).toBe("message has no subject");
    expect(subjectMismatchReason("Hi")).toContain('"Hi" is not in the ticket format');
  });
});
