// What collector.ts needs to read the inbox over POP3 (MAIL_PROTOCOL=pop3): the account the
// checkpoint and the UID map are kept for, the names for messages, and a connect function for
// the loop. The UID map is opened at the first connect, so a damaged one ends the loop with its
// MailerError (exit 2) like any other start-up problem.
import type { Config } from "../../shared/config";
import type { Mailbox } from "../imap-mailbox";
import type { Protocol } from "../loop";
import type { OAuth2Session } from "../../shared/oauth2/session";
import { saslMessage, withFreshToken } from "../../shared/oauth2/sasl";
import type { SaslMechanism } from "./client";
import { Pop3Mailbox } from "./mailbox";
import { FileUidMap } from "./uid-map";

export const POP3: Protocol = { name: "POP3", tlsPort: 995, plainPort: 110 };

/** Said once, on a first run: what "new" means without read flags. */
export const POP3_FIRST_RUN_NOTE =
  "POP3 has no read/unread state: this first run counts the messages already in the mailbox as seen and takes only mail that arrives after the collector started (--all takes every message there).";

export function pop3Remote(config: Config, ca: string[] | undefined, debug?: (line: string) => void, oauth2?: OAuth2Session | null) {
  const { host, port } = config.pop3;
  const account = `pop3:${config.emailLogin}@${host}:${port}/INBOX`;
  let uidMap: FileUidMap | null = null;
  const start: { maxUid: number | null } = { maxUid: null };
  return {
    account,
    endpoint: config.pop3,
    protocol: POP3,
    connect(): Promise<Mailbox> {
      uidMap ??= FileUidMap.open(config.stateDir, account);
      const settings = { endpoint: config.pop3, login: config.emailLogin, password: config.emailPassword, ca, uidMap, start, debug };
      if (!oauth2) return Pop3Mailbox.connect(settings);
      // a token the server refuses at the first login is replaced once (it may have been revoked early)
      const refused = (err: unknown) => (err as { authenticationFailed?: boolean }).authenticationFailed === true;
      return withFreshToken(oauth2.source, () => Pop3Mailbox.connect({ ...settings, sasl: oauth2Sasl(oauth2, config) }), refused);
    },
    close(): void {
      uidMap?.close();
    },
  };
}

/** AUTH XOAUTH2 / OAUTHBEARER with the session's current access token (refreshed before it expires). */
function oauth2Sasl(session: OAuth2Session, config: Config): SaslMechanism {
  const { host, port } = config.pop3;
  return {
    name: session.mechanism,
    initialResponse: async () => saslMessage(session.mechanism, config.emailLogin, await session.source.accessToken(), host, port),
  };
}
