// The SMTP limit: nodemailer with the server's pool settings sending the same messages the
// server would send (2 per ticket: the user's copy and the admin's copy with Reply-To) straight
// to the sink, no ticket server in between, with as many messages in flight as the server
// could have (2 × client connections). Prints {"result":{messages, elapsedMs, perSecond}}.
//   SINK_PORT, COUNT (messages), INFLIGHT, POOL_SIZE, LOGIN, PASSWORD, ADMIN
import nodemailer from "nodemailer";
import { formatSubject } from "../lib/shared/subject";
import { makeRequest } from "./load";

const env = process.env;
const count = Number(env.COUNT ?? 20000);
const inflight = Number(env.INFLIGHT ?? 100);
const admin = env.ADMIN ?? "admin@mailer.test";
const transport = nodemailer.createTransport({
  host: "127.0.0.1",
  port: Number(env.SINK_PORT),
  secure: false,
  ignoreTLS: true,
  pool: true,
  maxConnections: Number(env.POOL_SIZE ?? 5),
  maxMessages: env.MAX_MESSAGES === "Infinity" || !env.MAX_MESSAGES ? Infinity : Number(env.MAX_MESSAGES),
  auth: env.LOGIN ? { user: env.LOGIN, pass: env.PASSWORD ?? "" } : undefined,
});

/** Message k: even k is ticket k/2's user copy, odd k its admin copy (Reply-To the user).
 *  Built with the same sendMail options as lib/smtp.ts NodemailerSender.send. */
function message(k: number) {
  const ticket = Math.floor(k / 2);
  const req = JSON.parse(makeRequest(ticket));
  const to = k % 2 === 0 ? req.email : admin;
  return {
    from: { name: "", address: admin },
    to: { name: "", address: to },
    ...(k % 2 === 1 ? { replyTo: { name: "", address: req.email } } : {}),
    envelope: { from: admin, to: [to] },
    subject: formatSubject(String(100000 + ticket)),
    text: req.message,
    textEncoding: "quoted-printable" as const,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

let next = 0;
let done = 0;
let failed = 0;
const started = performance.now();
await new Promise<void>((resolve) => {
  const pump = () => {
    while (next < count && next - done < inflight) {
      const k = next++;
      transport.sendMail(message(k)).then(
        () => { done++; if (done === count) resolve(); else pump(); },
        (err) => { failed++; done++; console.error(`limit-smtp: ${err.message}`); if (done === count) resolve(); else pump(); },
      );
    }
  };
  pump();
});
const elapsedMs = performance.now() - started;
transport.close();
console.log(JSON.stringify({ result: { messages: count - failed, failed, elapsedMs, perSecond: ((count - failed) / elapsedMs) * 1000 } }));
process.exit(0);
