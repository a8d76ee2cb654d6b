// Run as `bun tests/helpers/big-mail-imap.ts text:50 text:150 attachment:150`: the sandbox IMAP
// server in a process of its own with one generated ticket per argument (a text body, or a small
// text and an attachment, of that many MB), for memory tests of the collector. Prints
// {"port":…,"sizes":[…]} when ready; stops on SIGTERM. User admin@mailer.test, password "pw".
import { startSandboxImap } from "../../lib/sandbox/imap";

const line = (c: string) => Buffer.from(c.repeat(76) + "\r\n");

/** `mb` MB of CRLF lines, built from one 1 MB block (quick, and one copy only) */
function lines(mb: number, c: string): Buffer {
  const block = Buffer.concat(Array(Math.ceil((1024 * 1024) / 78)).fill(line(c)));
  return Buffer.concat(Array(mb).fill(block));
}

export function bigTicket(kind: "text" | "attachment", mb: number, ticket: number): Buffer {
  const head = `From: ivan@example.com\r\nSubject: [Ticket #${ticket}] Mailer\r\nMIME-Version: 1.0\r\n`;
  if (kind === "text") return Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; charset=utf-8\r\n\r\n`), lines(mb, "Z")]);
  return Buffer.concat([
    Buffer.from(`${head}Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n`),
    lines(mb, "A"),
    Buffer.from("--zz--\r\n"),
  ]);
}

const imap = await startSandboxImap({ port: 0, users: { "admin@mailer.test": "pw" } });
const sizes: number[] = [];
for (const [i, spec] of process.argv.slice(2).entries()) {
  const [kind, mb] = spec.split(":");
  const raw = bigTicket(kind === "attachment" ? "attachment" : "text", Number(mb), 10001 + i);
  sizes.push(raw.length);
  await imap.append(raw);
}
console.log(JSON.stringify({ port: imap.port, sizes }));
process.on("SIGTERM", async () => {
  await imap.close();
  process.exit(0);
});
