// Against the real mail stack (scripts/mailstack.sh): the servers behave as Mailer's tests
// assume. Skipped with one line outside CI when the stack is not running; fails in CI.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { requireMailstack, type MailstackEnv } from "../helpers/mailstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stack = requireMailstack();
const SLOW = 20_000; // ms: a TLS handshake plus a delivery, with room for a loaded CI machine

function imap(s: MailstackEnv, opts: { implicitTls: boolean; user?: string; pass?: string; ca?: string }) {
  return new ImapFlow({
    host: s.imapHost,
    port: opts.implicitTls ? s.imapsPort : s.imapPort,
    secure: opts.implicitTls,
    doSTARTTLS: opts.implicitTls ? undefined : true,
    auth: { user: opts.user ?? s.admin, pass: opts.pass ?? s.adminPassword },
    // Verification stays on. With an IP host, Bun needs an explicit servername (NOTES).
    tls: { ca: [readFileSync(opts.ca ?? s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
    logger: false,
    disableAutoIdle: true,
  });
}

function smtp(s: MailstackEnv) {
  return nodemailer.createTransport({
    host: s.smtpHost,
    port: s.smtpPort,
    secure: false,
    requireTLS: true,
    auth: { user: s.admin, pass: s.adminPassword },
    tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername, rejectUnauthorized: true },
  });
}

async function loginError(client: ImapFlow): Promise<any> {
  try {
    await client.connect();
  } catch (err) {
    return err;
  } finally {
    client.close();
  }
  throw new Error("login unexpectedly succeeded");
}

describe.skipIf(!stack)("real mail stack (Postfix + Dovecot on loopback)", () => {
  const s = stack!;

  test("admin logs in over IMAPS (implicit TLS) with the private CA trusted", async () => {
    const client = imap(s, { implicitTls: true });
    await client.connect();
    try {
      expect(client.authenticated).toBeTruthy();
      const status = await client.status("INBOX", { messages: true });
      expect(status && status.path).toBe("INBOX");
    } finally {
      await client.logout();
    }
  }, SLOW);

  test("admin logs in over IMAP with STARTTLS", async () => {
    const client = imap(s, { implicitTls: false });
    await client.connect();
    try {
      expect(client.authenticated).toBeTruthy();
      // Connected with secure: false: only the STARTTLS upgrade sets this.
      expect(client.secureConnection).toBe(true);
    } finally {
      await client.logout();
    }
  }, SLOW);

  test("a wrong password fails with authenticationFailed, without a login delay", async () => {
    const started = performance.now();
    const err = await loginError(imap(s, { implicitTls: true, pass: "wrong-password" }));
    expect(err.authenticationFailed).toBe(true);
    expect(err.serverResponseCode).toBe("AUTHENTICATIONFAILED");
    // auth_failure_delay = 0 and no anvil penalty: a good login right after is not slowed.
    const client = imap(s, { implicitTls: true });
    await client.connect();
    await client.logout();
    expect(performance.now() - started).toBeLessThan(1_500);
  }, SLOW);

  test("a certificate from another CA is refused (verification is on)", async () => {
    const err = await loginError(imap(s, { implicitTls: true, ca: `${s.otherCaDir}/ca.pem` }));
    expect(err.authenticationFailed).toBeFalsy();
    // The server sends only its leaf certificate, so Bun reports UNABLE_TO_VERIFY_LEAF_SIGNATURE
    // (not SELF_SIGNED_CERT_IN_CHAIN, which a server sending its CA as well would give).
    expect(String(err.code ?? err.message)).toMatch(/CERT|UNABLE_TO_VERIFY|certificate/i);
  }, SLOW);

  test("SMTP submission accepts mail for user@ and it arrives in user's INBOX", async () => {
    const subject = `mailstack test ${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const transport = smtp(s);
    try {
      const info = await transport.sendMail({ from: s.admin, to: s.user, subject, text: "hello from the mailstack test\n" });
      expect(info.accepted).toEqual([s.user]);
      expect(info.rejected).toEqual([]);
    } finally {
      transport.close();
    }
    const client = imap(s, { implicitTls: true, user: s.user, pass: s.userPassword });
    await client.connect();
    try {
      let found: number[] = [];
      for (let i = 0; i < 50 && found.length === 0; i++) {
        const lock = await client.getMailboxLock("INBOX");
        try {
          found = (await client.search({ subject }, { uid: true })) || [];
        } finally {
          lock.release();
        }
        if (found.length === 0) await Bun.sleep(100);
      }
      expect(found.length).toBe(1);
    } finally {
      await client.logout();
    }
  }, SLOW);

  test("SMTP submission rejects an unknown user at RCPT with 550", async () => {
    const transport = smtp(s);
    try {
      const err: any = await transport
        .sendMail({ from: s.admin, to: `nobody@${s.domain}`, subject: "to nobody", text: "x\n" })
        .then(() => null, (e) => e);
      expect(err).not.toBeNull();
      expect(err.code).toBe("EENVELOPE");
      expect(err.responseCode).toBe(550);
      expect(String(err.response)).toMatch(/User unknown/);
    } finally {
      transport.close();
    }
  }, SLOW);

  test("SMTP submission refuses a wrong password with 535", async () => {
    const transport = nodemailer.createTransport({
      host: s.smtpHost,
      port: s.smtpPort,
      secure: false,
      requireTLS: true,
      auth: { user: s.admin, pass: "wrong-password" },
      tls: { ca: [readFileSync(s.caFile, "utf8")], servername: s.tlsServername },
    });
    try {
      const err: any = await transport.verify().then(() => null, (e) => e);
      expect(err?.code).toBe("EAUTH");
      expect(err?.responseCode).toBe(535);
    } finally {
      transport.close();
    }
  }, SLOW);
});
