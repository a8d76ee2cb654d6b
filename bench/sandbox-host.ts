// The embedded sandbox (lib/sandbox: SMTP whose admin mail lands in the IMAP inbox) in a process
// of its own, for the end-to-end benchmark. IDLE=0 serves IMAP without IDLE, so the collector
// must poll. Prints {"ready":{smtpPort, imapPort}}; stops on SIGTERM.
//   LOGIN, PASSWORD, ADMIN, IDLE (default 1)
import { startSandboxImap } from "../lib/sandbox/imap";
import { startSandboxSmtp } from "../lib/sandbox/smtp";

const env = process.env;
const login = env.LOGIN ?? "admin@mailer.test";
const password = env.PASSWORD ?? "bench";
const imap = await startSandboxImap({ port: 0, users: { [login]: password }, idle: env.IDLE !== "0" });
const smtp = await startSandboxSmtp({
  port: 0,
  login,
  password,
  adminEmail: env.ADMIN ?? login,
  deliverToAdmin: (raw) => imap.append(raw),
  onOtherMail() {}, // the user's copy: accepted, not shown
});
console.log(JSON.stringify({ ready: { smtpPort: smtp.port, imapPort: imap.port, uidValidity: imap.uidValidity } }));
process.on("SIGTERM", async () => { await Promise.all([smtp.close(), imap.close()]); process.exit(0); });
