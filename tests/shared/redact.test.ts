import { expect, test } from "bun:test";
import { makeRedactor } from "../../lib/shared/redact";

test("the password and its SASL wire forms are masked", () => {
  const redact = makeRedactor("admin@mailer.test", "pw-s3cret!");
  const plain = Buffer.from("\0admin@mailer.test\0pw-s3cret!").toString("base64");
  const login = Buffer.from("pw-s3cret!").toString("base64");
  const out = redact(`C: AUTH PLAIN ${plain}\nC: ${login}\npassword=pw-s3cret!`);
  expect(out).not.toContain("pw-s3cret!");
  expect(out).not.toContain(plain);
  expect(out).not.toContain(login);
  expect(out).toContain("AUTH PLAIN ***");
});
