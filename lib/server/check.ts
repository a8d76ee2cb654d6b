// `bun server.ts --check`: connects and logs in to SMTP with the configured settings, one step
// at a time, and says what works and what does not — before a person's ticket finds out.
// Exit 0 (sending works), 2 (a wrong login, certificate or TLS setting: change the
// configuration) or 3 (unreachable or not answering in time: check the host, port, network).
// With AUTH_METHOD=oauth2 the login step is the SASL mechanism with a real access token.
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { usesImplicitTls, type Config } from "../shared/config";
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import { EXIT } from "../shared/errors";
import { describeAuth, openOAuth2, type OAuth2Session } from "../shared/oauth2/session";
import { makeRedactor } from "../shared/redact";
import { tlsOptions } from "../shared/tls";
import { describeSmtpError, type FailureKind, type SmtpContext } from "./smtp";

export interface CheckIo {
  out(line: string): void;
  err(line: string): void;
}

/** Exit code per failure: the configuration is wrong (2), or the server cannot be reached (3). */
const CHECK_EXIT: Record<FailureKind, number> = {
  auth: EXIT.USAGE, tls: EXIT.USAGE, sender: EXIT.USAGE, recipient: EXIT.USAGE, message: EXIT.USAGE,
  connect: EXIT.UNREACHABLE, dns: EXIT.UNREACHABLE, timeout: EXIT.UNREACHABLE, protocol: EXIT.UNREACHABLE, other: EXIT.UNREACHABLE,
};

/** One step with its own deadline (SMTP_TIMEOUT): past it the connection is closed. */
function step<T>(conn: SMTPConnection, ms: number, run: (done: (err: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.close();
      reject(Object.assign(new Error("no complete reply in time"), { code: "ETIMEDOUT" }));
    }, ms);
    const done = (err: unknown, value?: T) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value as T);
    };
    conn.once("error", done);
    run(done);
  });
}

/** Runs the check; resolves to the exit code. `redact` masks the password in every line. */
export async function runSmtpCheck(config: Config, ca: string[] | undefined, io: CheckIo, redact: (t: string) => string, oauth2: OAuth2Session | null = null): Promise<number> {
  const { host, port } = config.smtp;
  const implicit = usesImplicitTls(config.smtp, 465);
  const ctx: SmtpContext = { host, port, login: config.emailLogin, timeoutSec: config.smtpTimeout, security: config.smtp.security, redact };
  const ms = config.smtpTimeout * 1000;
  const mode = implicit ? "implicit TLS" : config.smtp.security === "starttls" ? "STARTTLS required" : "STARTTLS when offered";
  io.out(`Checking SMTP ${host}:${port} (${mode}) for EMAIL_LOGIN=${config.emailLogin}, each step within SMTP_TIMEOUT=${config.smtpTimeout} s`);
  if (oauth2) io.out(`sign-in: ${describeAuth(config)}`);
  const sasl = oauth2?.smtpAuthOptions(config.emailLogin, host, port);
  const conn = new SMTPConnection({
    host, port, secure: implicit, requireTLS: config.smtp.security === "starttls", tls: tlsOptions(host, ca),
    connectionTimeout: ms, greetingTimeout: ms, socketTimeout: ms, logger: false, ...(sasl ? { customAuth: sasl.customAuth } : {}),
  } as SMTPConnection.Options);
  try {
    await step<void>(conn, ms, (done) => conn.connect((err) => done(err)));
    io.out(`✓ connected; the server greeted and answered EHLO`);
    io.out(conn.secure ? `✓ TLS (${implicit ? "implicit" : "STARTTLS"}): the certificate was verified` : `! no TLS: the server offers no STARTTLS, mail and password travel in plain text (SMTP_SECURE=starttls would refuse this)`);
    if (config.emailLogin) {
      const credentials = sasl ? { user: config.emailLogin, method: sasl.auth.method } : { user: config.emailLogin, pass: config.emailPassword };
      await step<void>(conn, ms, (done) => conn.login(credentials as SMTPConnection.AuthenticationCredentials, (err) => done(err)));
      io.out(oauth2 ? `✓ AUTH ${oauth2.mechanism}: the OAuth2 access token was accepted for EMAIL_LOGIN=${config.emailLogin}` : `✓ login accepted for EMAIL_LOGIN=${config.emailLogin}`);
    }
    conn.quit();
    io.out(`OK: the server can send mail through ${host}:${port}`);
    return EXIT.OK;
  } catch (err) {
    conn.close();
    const failed = describeSmtpError(err, ctx);
    io.err(`✗ ${failed.error}`);
    return CHECK_EXIT[failed.kind];
  }
}

/** `bun server.ts --check`: the configuration (errors throw, exit 2), then the check. */
export async function runServerCheck(): Promise<number> {
  const config = loadConfigOrThrow("server");
  const ca = loadCaOrThrow(config, "server");
  const oauth2 = openOAuth2(config);
  const redact = makeRedactor(config.emailLogin, config.emailPassword, oauth2?.secrets);
  return await runSmtpCheck(config, ca, { out: (l) => console.log(redact(l)), err: (l) => console.error(redact(l)) }, redact, oauth2);
}
