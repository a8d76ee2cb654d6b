// Where the collector reads mail from: the admin's INBOX over IMAP (default) or POP3
// (MAIL_PROTOCOL=pop3). One shape for both, so the program and the loop do not care which: the
// account the checkpoint is kept for, the endpoint and protocol names for messages, and a
// connect function for the loop.
import type { Config } from "../shared/config";
import type { OAuth2Session } from "../shared/oauth2/session";
import { ImapMailbox, type ImapSettings, type Mailbox } from "./imap-mailbox";
import { connectOAuth2 } from "./imap-oauth2";
import { IMAP, type Protocol } from "./loop";
import { pop3Remote, POP3_FIRST_RUN_NOTE } from "./pop3/remote";

export const MAILBOX = "INBOX";

export interface Remote {
  account: string;
  endpoint: { host: string; port: number };
  protocol: Protocol;
  connect(): Promise<Mailbox>;
  close(): void;
  /** said on a first run without --all (POP3 has no unread state) */
  firstRunNote?: string;
}

export function openRemote(config: Config, ca: string[] | undefined, oauth2: OAuth2Session | null, debug?: (line: string) => void): Remote {
  if (config.mailProtocol === "pop3") return { ...pop3Remote(config, ca, debug, oauth2), firstRunNote: POP3_FIRST_RUN_NOTE };
  const { host, port } = config.imap;
  const settings: ImapSettings = { endpoint: config.imap, login: config.emailLogin, password: config.emailPassword, ca, path: MAILBOX, debug };
  return {
    account: `${config.emailLogin}@${host}:${port}/${MAILBOX}`,
    endpoint: config.imap,
    protocol: IMAP,
    connect: () => (oauth2 ? connectOAuth2(settings, oauth2, ImapMailbox.connect) : ImapMailbox.connect(settings)),
    close() {},
  };
}
