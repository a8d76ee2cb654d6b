// The collector's limits, measured against the same mailbox: MODE=fetch is the bare transport
// (imapflow FETCH of every message's source, BODY.PEEK[], bytes counted and dropped); MODE=parse
// is the naive loop a person would write first: the same fetch, and mailparser's simpleParser on
// each source inside the loop. Timed from process start (connect + login included, as for the
// collector process). Prints {"result":{messages, bytes, elapsedMs, perSecond}}.
//   IMAP_HOST, IMAP_PORT, LOGIN, PASSWORD, IMAP_SECURE (tls|starttls|plain), TLS_CA_FILE
import { ImapFlow } from "imapflow";
import { loadCa, tlsOptions } from "../lib/shared/tls";

const { simpleParser } = require("mailparser") as { simpleParser(raw: Buffer): Promise<{ subject?: string; text?: string }> };
const env = process.env;
const mode = env.MODE ?? "fetch";
const host = env.IMAP_HOST ?? "127.0.0.1";
const secure = env.IMAP_SECURE ?? "plain";
const client = new ImapFlow({
  host,
  port: Number(env.IMAP_PORT),
  secure: secure === "tls",
  doSTARTTLS: secure === "starttls" ? true : secure === "plain" ? false : undefined,
  tls: tlsOptions(host, loadCa(env.TLS_CA_FILE || null)) as any,
  auth: { user: env.LOGIN ?? "admin@mailer.test", pass: env.PASSWORD ?? "bench" },
  logger: false,
});
const t0 = performance.now();
await client.connect();
const lock = await client.getMailboxLock("INBOX");
let messages = 0;
let bytes = 0;
let tickets = 0;
try {
  for await (const msg of client.fetch("1:*", { uid: true, source: true }, { uid: true })) {
    const source = msg.source as Buffer;
    bytes += source.length;
    messages++;
    if (mode === "parse") {
      const parsed = await simpleParser(source);
      if (parsed.subject?.includes("[Ticket #") && parsed.text !== undefined) tickets++;
    }
  }
} finally {
  lock.release();
}
await client.logout();
const elapsedMs = performance.now() - t0;
console.log(JSON.stringify({ result: { mode, messages, bytes, tickets, elapsedMs, perSecond: (messages / elapsedMs) * 1000 } }));
process.exit(0);
