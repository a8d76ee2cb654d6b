// Run as `bun tests/helpers/stream-rss.ts <MB> [attachment|text]`: parses a generated message
// with a base64 attachment (or a base64 text/plain body) of that size from a stream (never whole
// in memory) and prints JSON with the RSS growth. A process of its own, so the test runner's
// heap does not blur the figure.
import { parseMail } from "../../lib/shared/mail-text";

const attachmentMb = Number(process.argv[2] ?? 30);
const textBody = process.argv[3] === "text";
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"));
const head = textBody
  ? crlf(`Subject: big\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n`)
  : crlf(`Subject: big\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\nsmall text\n--zz\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=big.bin\nContent-Transfer-Encoding: base64\n\n`);
const line = Buffer.from(Buffer.alloc(57, 0x5a).toString("base64") + "\r\n"); // 57 bytes per line
const chunk = Buffer.concat(Array(1000).fill(line));
const chunks = Math.ceil((attachmentMb * 1024 * 1024) / 57_000);

Bun.gc(true);
const before = process.memoryUsage().rss;
let peak = before;
async function* source() {
  yield head;
  for (let i = 0; i < chunks; i++) {
    if (i % 20 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    yield chunk;
  }
  yield crlf("--zz--\n");
}
const mail = await parseMail(source());
peak = Math.max(peak, process.memoryUsage().rss);
console.log(JSON.stringify({
  text: textBody ? mail.text.slice(0, 20) : mail.text,
  textLength: mail.text.length,
  textTruncated: mail.textTruncated,
  attachments: mail.attachments,
  expectedSize: chunks * 57_000,
  mimeMb: (chunks * chunk.length) / 1048576,
  growthMb: (peak - before) / 1048576,
}));
