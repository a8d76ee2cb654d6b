// `bun collector.ts --check`: connects and logs in to IMAP (or POP3, MAIL_PROTOCOL=pop3) with the
// configured settings — a password or an OAuth2 token — opens the INBOX read-only and says what
// works and what does not; logs and checkpoint are not touched. Exit 0 (it works), 2 (a wrong
// login, certificate or TLS setting) or 3 (unreachable).
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { usesImplicitTls } from "../shared/config";
import { EXIT } from "../shared/errors";
import { describeAuth, openOAuth2 } from "../shared/oauth2/session";
import { makeRedactor } from "../shared/redact";
import type { Mailbox } from "./imap-mailbox";
import { fatalFailure } from "./loop";
import { MAILBOX, openRemote, type Remote } from "./remote";
import { counted } from "../shared/words";

export interface CheckIo {
  out(line: string): void;
  err(line: string): void;
}

/** Runs the check; resolves to the exit code. `connect` is replaceable for tests. */
export async function runImapCheck(config: Config, ca: string[] | undefined, io: CheckIo, connect?: () => Promise<Mailbox>, remote: Remote = openRemote(config, ca, null)): Promise<number> {
  const { host, port } = remote.endpoint;
  const { name, tlsPort } = remote.protocol;
  const endpoint = name === "POP3" ? config.pop3 : config.imap;
  const mode = usesImplicitTls(endpoint, tlsPort) ? "implicit TLS" : endpoint.security === "starttls" ? "STARTTLS required" : "STARTTLS when offered";
  io.out(`Checking ${name} ${host}:${port} (${mode}) for EMAIL_LOGIN=${config.emailLogin}`);
  if (config.authMethod === "oauth2") io.out(`sign-in: ${describeAuth(config)}`);
  let mailbox: Mailbox | null = null;
  try {
    mailbox = await (connect ?? (() => remote.connect()))();
    const how = config.authMethod === "oauth2" ? ` with an OAuth2 access token (${config.oauth2?.mechanism ?? "XOAUTH2"})` : "";
    io.out(`✓ connected and logged in as EMAIL_LOGIN=${config.emailLogin}${how}`);
    const info = await mailbox.open();
    io.out(info.tls ? "✓ TLS: the certificate was verified" : `! no TLS: the server offers no STARTTLS, mail and password travel in plain text (${name}_SECURE=starttls would refuse this)`);
    io.out(`✓ ${MAILBOX} opened read-only: ${counted(info.exists, "message")}; ${info.idle ? "IDLE offered (new mail is picked up at once)" : `no IDLE (checked every PERIOD_CHECK=${config.periodCheck} s)`}`);
    io.out(`OK: the collector can read ${config.emailLogin}'s ${MAILBOX} on ${host}:${port}`);
    return EXIT.OK;
  } catch (err) {
    const failure = fatalFailure(err, { login: config.emailLogin, host, port, mailbox: MAILBOX, protocol: remote.protocol }, true)!;
    io.err(`✗ ${failure.message}`);
    return failure.exitCode === EXIT.USAGE ? EXIT.USAGE : EXIT.UNREACHABLE;
  } finally {
    await mailbox?.close().catch(() => {});
    remote.close();
  }
}

/** `bun collector.ts --check`: the configuration (errors throw, exit 2), then the check. */
export async function runCollectorCheck(): Promise<number> {
  const config = loadConfigOrThrow("collector");
  const ca = loadCaOrThrow(config, "collector");
  const oauth2 = openOAuth2(config);
  const redact = makeRedactor(config.emailLogin, config.emailPassword, oauth2?.secrets);
  const io = { out: (l: string) => console.log(redact(l)), err: (l: string) => console.error(redact(l)) };
  return await runImapCheck(config, ca, io, undefined, openRemote(config, ca, oauth2));
}
