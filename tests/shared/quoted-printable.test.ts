import { expect, test } from "bun:test";
import { decodeQuotedPrintable } from "../../lib/shared/quoted-printable";
import { prng } from "../helpers/kit";

const libqp = require("libqp") as { decode(input: Buffer): Buffer };

const CASES = [
  "", "=", "==", "=4", "=41", "=4=41", "==41", "=4=\n1", "=\r\n", "= \r\n", "a \t\r\nb", "a=\nb", "=3D=3d=3g", "=\n", "x=",
  "caf=C3=A9 =E2=82=AC", "soft=\r\nbreak", "end  ", "=0A=0D", "\u00ff\u0080=FF", "tab\t=\n", "=a", "=Ab=", "line\r\n\r\n=20",
];

test("hand-made input: the same bytes as libqp's decode()", () => {
  for (const c of CASES) {
    const input = Buffer.from(c, "binary");
    expect([c, decodeQuotedPrintable(input)]).toEqual([c, libqp.decode(input)]);
  }
});

test("random input over the characters that matter: the same bytes as libqp's decode()", () => {
  const random = prng(20261201);
  const alphabet = Buffer.from("=0aF9gG \t\r\nxZ\u00e9\u0080\u00ff", "binary");
  for (let n = 0; n < 20_000; n++) {
    const input = Buffer.alloc(random.int(0, 40));
    for (let i = 0; i < input.length; i++) input[i] = alphabet[random.int(0, alphabet.length - 1)]!;
    const ours = decodeQuotedPrintable(input);
    const theirs = libqp.decode(input);
    if (!ours.equals(theirs)) expect([input.toString("binary"), ours]).toEqual([input.toString("binary"), theirs]);
  }
});
