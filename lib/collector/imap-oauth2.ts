// IMAP AUTHENTICATE with OAuth2 through imapflow. imapflow 2.1.2 (commands/authenticate.js)
// chooses by itself: OAUTHBEARER whenever the server offers it, XOAUTH2 otherwise, whatever the
// configuration says. restrictMechanism makes it use the configured one. connectOAuth2 logs in
// with the current access token and, if the server refuses it, once more with a fresh one.
import type { ImapFlow } from "imapflow";
import { MailerError } from "../shared/errors";
import type { Mechanism } from "../shared/oauth2/presets";
import { withFreshToken } from "../shared/oauth2/sasl";
import type { OAuth2Session } from "../shared/oauth2/session";
import { RELOGIN_HINT } from "../shared/oauth2/token-source";
import type { ImapMailbox, ImapSettings } from "./imap-mailbox";

const OTHER: Record<Mechanism, string[]> = { XOAUTH2: ["AUTH=OAUTHBEARER"], OAUTHBEARER: ["AUTH=XOAUTH2", "AUTH=XOAUTH"] };

/** Hides the other OAuth2 mechanism from imapflow's choice; refuses clearly when the server lacks ours. */
export function restrictMechanism(client: ImapFlow, mechanism: Mechanism): void {
  const c = client as unknown as { authenticate(): Promise<boolean>; capabilities: Map<string, unknown> };
  const authenticate = c.authenticate.bind(client);
  c.authenticate = async () => {
    if (!c.capabilities.has(`AUTH=${mechanism}`)) {
      const offered = [...c.capabilities.keys()].filter((k) => k.startsWith("AUTH=")).map((k) => k.slice(5)).join(" ") || "none";
      throw new MailerError("config", `the IMAP server does not offer AUTHENTICATE ${mechanism} (it offers: ${offered}) — set OAUTH2_MECHANISM to one it offers (xoauth2 or oauthbearer)`);
    }
    for (const other of OTHER[mechanism]) c.capabilities.delete(other);
    return authenticate();
  };
}

/** `connect` as ImapMailbox.connect; a token refused twice ends with an "auth" MailerError (exit 2). */
export async function connectOAuth2(settings: ImapSettings, session: OAuth2Session, connect: (s: ImapSettings) => Promise<ImapMailbox>): Promise<ImapMailbox> {
  const { host, port } = settings.endpoint;
  try {
    const mailbox = await withFreshToken(
      session.source,
      (accessToken) => connect({ ...settings, oauth2: { accessToken, mechanism: session.mechanism } }),
      (err) => (err as { authenticationFailed?: boolean }).authenticationFailed === true,
    );
    session.record("imap", true);
    return mailbox;
  } catch (err) {
    const e = err as { authenticationFailed?: boolean; responseText?: string; oauthError?: { status?: string } };
    if (!e.authenticationFailed) throw err;
    const said = [e.responseText, e.oauthError?.status].filter(Boolean).join(", ");
    const reason = `the IMAP server at ${host}:${port} refused a fresh OAuth2 access token for EMAIL_LOGIN=${settings.login} with AUTHENTICATE ${session.mechanism}${said ? ` (${said})` : ""} — check that OAUTH2_SCOPE includes IMAP (Microsoft: IMAP.AccessAsUser.All, and IMAP enabled for the mailbox), then ${RELOGIN_HINT}`;
    session.record("imap", false, reason);
    throw new MailerError("auth", reason);
  }
}
