// `bun collector.ts --check`: connects and logs in to IMAP with the configured settings, opens
// the INBOX read-only and says what works and what does not; logs and checkpoint are not
// touched. Exit 0 (it works), 2 (a wrong login, certificate or TLS setting) or 3 (unreachable).
// The steps are kept apart so another login mechanism (OAuth2) can be shown here too.
import { loadCaOrThrow, loadConfigOrThrow } from "../shared/cli";
import type { Config } from "../shared/config";
import { usesImplicitTls } from "../shared/config";
import { EXIT } from "../shared/errors";
import { makeRedactor } from "../shared/redact";
import { ImapMailbox, type Mailbox } from "./imap-mailbox";
import { fatalFailure } from "./loop";

const MAILBOX = "INBOX";

export interface CheckIo {
  out(line: string): void;
  err(line: string): void;
}

/** Runs the check; resolves to the exit code. `connect` is replaceable for tests. */
export async function runImapCheck(config: Config, ca: string[] | undefined, io: CheckIo, connect: () => Promise<Mailbox> = () => defaultConnect(config, ca)): Promise<number> {
  const { host, port } = config.imap;
  const mode = usesImplicitTls(config.imap, 993) ? "implicit TLS" : config.imap.security === "starttls" ? "STARTTLS required" : "STARTTLS when offered";
  io.out(`Checking IMAP ${host}:${port} (${mode}) for EMAIL_LOGIN=${config.emailLogin}`);
  let mailbox: Mailbox | null = null;
  try {
    mailbox = await connect();
    io.out(`✓ connected and logged in as EMAIL_LOGIN=${config.emailLogin}`);
    const info = await mailbox.open();
    io.out(info.tls ? "✓ TLS: the certificate was verified" : "! no TLS: the server offers no STARTTLS, mail and password travel in plain text (IMAP_SECURE=starttls would refuse this)");
    io.out(`✓ ${MAILBOX} opened read-only: ${info.exists} message${info.exists === 1 ? "" : "s"}; ${info.idle ? "IDLE offered (new mail is picked up at once)" : `no IDLE (checked every PERIOD_CHECK=${config.periodCheck} s)`}`);
    io.out(`OK: the collector can read ${config.emailLogin}'s ${MAILBOX} on ${host}:${port}`);
    return EXIT.OK;
  } catch (err) {
    const failure = fatalFailure(err, { login: config.emailLogin, host, port, mailbox: MAILBOX }, true)!;
    io.err(`✗ ${failure.message}`);
    return failure.exitCode === EXIT.USAGE ? EXIT.USAGE : EXIT.UNREACHABLE;
  } finally {
    await mailbox?.close().catch(() => {});
  }
}

function defaultConnect(config: Config, ca: string[] | undefined): Promise<Mailbox> {
  return ImapMailbox.connect({ endpoint: config.imap, login: config.emailLogin, password: config.emailPassword, ca, path: MAILBOX });
}

/** `bun collector.ts --check`: the configuration (errors throw, exit 2), then the check. */
export async function runCollectorCheck(): Promise<number> {
  const config = loadConfigOrThrow("collector");
  const ca = loadCaOrThrow(config, "collector");
  const redact = makeRedactor(config.emailLogin, config.emailPassword);
  return await runImapCheck(config, ca, { out: (l) => console.log(redact(l)), err: (l) => console.error(redact(l)) });
}
