// What collector.ts needs to read the inbox over POP3 (MAIL_PROTOCOL=pop3): the account the
// checkpoint and the UID map are kept for, the names for messages, and a connect function for
// the loop. The UID map is opened at the first connect, so a damaged one ends the loop with its
// MailerError (exit 2) like any other start-up problem.
import type { Config } from "../../shared/config";
import type { Mailbox } from "../imap-mailbox";
import type { Protocol } from "../loop";
import { Pop3Mailbox } from "./mailbox";
import { FileUidMap } from "./uid-map";

export const POP3: Protocol = { name: "POP3", tlsPort: 995, plainPort: 110 };

/** Said once, on a first run: what "new" means without read flags. */
export const POP3_FIRST_RUN_NOTE =
  "POP3 has no read/unread state: this first run counts the messages already in the mailbox as seen and takes only mail that arrives after the collector started (--all takes every message there).";

export function pop3Remote(config: Config, ca: string[] | undefined, debug?: (line: string) => void) {
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
      return Pop3Mailbox.connect({ endpoint: config.pop3, login: config.emailLogin, password: config.emailPassword, ca, uidMap, start, debug });
    },
    close(): void {
      uidMap?.close();
    },
  };
}
