// Quoted-printable decoding, byte for byte what libqp's decode() (mailparser's decoder) returns,
// without its per-character regular expression and substr: in the collector's fast path
// (./simple-mail.ts) libqp's loop was ~3 % of a 1,000-message check (--cpu-prof). The two text
// passes before the loop are libqp's own, kept as they are so that the result stays identical
// (tests/shared/quoted-printable.test.ts compares the two on random and hand-made input).

const hexValue = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);

export function decodeQuotedPrintable(input: Buffer): Buffer {
  // 'binary': one char code 0–255 per byte, as libqp reads a Buffer
  const str = input
    .toString("binary")
    .replace(/[\t ]+$/gm, "") // white space at line ends is not part of the text
    .replace(/=(?:\r?\n|$)/g, ""); // soft line breaks
  const out = Buffer.allocUnsafe(str.length);
  let pos = 0;
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c === 0x3d && i + 2 < str.length) {
      const hi = hexValue(str.charCodeAt(i + 1));
      const lo = hi < 0 ? -1 : hexValue(str.charCodeAt(i + 2));
      if (lo >= 0) {
        out[pos++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    out[pos++] = c;
  }
  return out.subarray(0, pos);
}
