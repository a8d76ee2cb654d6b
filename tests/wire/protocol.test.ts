import { expect, test } from "bun:test";
import { encodeReply, encodeRequest, errorReply, parseReply, parseRequest } from "../../lib/wire/protocol";

test("a request with newlines and Unicode encodes to exactly one line and parses back", () => {
  const req = { email: "ivan@пример.рф", message: "Привет\nвторая 👋\r\n\"quoted\"" };
  const line = encodeRequest(req);
  expect(line.endsWith("\n")).toBe(true);
  expect(line.slice(0, -1).includes("\n")).toBe(false);
  const parsed = parseRequest(line.slice(0, -1));
  expect(parsed).toEqual({ ok: true, request: req });
});

test("wrong shapes are BAD_REQUEST with a reason", () => {
  const cases: [string, RegExp][] = [
    ["not json", /not valid JSON/],
    ["[1,2]", /not a JSON object/],
    ["null", /not a JSON object/],
    ['"text"', /not a JSON object/],
    ['{"message":"x"}', /no "email" field/],
    ['{"email":"a@b.cd"}', /no "message" field/],
    ['{"email":5,"message":"x"}', /"email" must be a JSON string, got number/],
    ['{"email":"a@b.cd","message":null}', /"message" must be a JSON string, got null/],
  ];
  for (const [line, reason] of cases) {
    const r = parseRequest(line);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reply.code).toBe("BAD_REQUEST");
      expect(r.reply.error).toMatch(reason);
    }
  }
});

test("unknown extra fields are ignored (forward compatible)", () => {
  expect(parseRequest('{"email":"a@b.cd","message":"m","lang":"ru"}')).toEqual({ ok: true, request: { email: "a@b.cd", message: "m" } });
});

test("replies round-trip, including retryAfter and field", () => {
  const ok = { status: "OK" as const, ticket: "10001" };
  expect(parseReply(encodeReply(ok))).toEqual(ok);
  const err = errorReply("RATE_LIMITED", "too many", { field: "email", retryAfter: 12 });
  expect(JSON.parse(encodeReply(err))).toEqual({ status: "ERROR", code: "RATE_LIMITED", field: "email", error: "too many", retryAfter: 12 });
  expect(parseReply(encodeReply(err))).toEqual(err);
  expect(parseReply("garbage")).toBeNull();
  expect(parseReply('{"status":"MAYBE"}')).toBeNull();
});
