// One OAuth2 sign-in for a program (server or collector): the token source over the token store,
// the secrets it learns (for the redactor), the SASL mechanism, and what the mail servers said
// about the last login — which `--check` reports (describeAuth / OAuth2Session.outcomes).
import type { Config } from "../config";
import { isMailerError, MailerError, messageOf } from "../errors";
import { SecretBook } from "../redact";
import type { Mechanism } from "./presets";
import { smtpOAuth2Handler, type SmtpAuthContext } from "./sasl";
import type { OAuth2Settings } from "./settings";
import { TokenSource } from "./token-source";
import { TokenStore } from "./token-store";

export type Protocol = "smtp" | "imap";

/** nodemailer's name for our handler; not "XOAUTH2", which nodemailer would swap for PLAIN */
const SMTP_METHOD = "MAILER-OAUTH2";

export interface LoginOutcome {
  mechanism: Mechanism;
  accepted: boolean;
  /** the refusal, one sentence; "" when accepted */
  detail: string;
  at: string;
}

export class OAuth2Session {
  readonly secrets = new SecretBook();
  readonly source: TokenSource;
  readonly store: TokenStore;
  readonly mechanism: Mechanism;
  readonly outcomes = new Map<Protocol, LoginOutcome>();

  constructor(readonly settings: OAuth2Settings, login: string, stateDir: string, fetchImpl?: typeof fetch) {
    this.mechanism = settings.mechanism;
    this.secrets.add(settings.clientSecret);
    this.secrets.add(settings.refreshToken);
    this.store = new TokenStore(stateDir, { login, clientId: settings.clientId, tokenUrl: settings.tokenUrl }, settings.refreshToken);
    this.source = new TokenSource({
      tokenUrl: settings.tokenUrl,
      client: { clientId: settings.clientId, clientSecret: settings.clientSecret },
      scope: settings.scope,
      login,
      store: this.store,
      onSecret: (s) => this.secrets.add(s),
      fetchImpl,
    });
  }

  record(protocol: Protocol, accepted: boolean, detail = ""): void {
    this.outcomes.set(protocol, { mechanism: this.mechanism, accepted, detail, at: new Date().toISOString() });
  }

  /** nodemailer `auth` + `customAuth` options: the SASL exchange of sasl.ts, its outcome recorded. */
  smtpAuthOptions(user: string, host: string, port: number) {
    const handler = smtpOAuth2Handler({ source: this.source, mechanism: this.mechanism, user, host, port });
    const run = async (ctx: SmtpAuthContext) => {
      try {
        await handler(ctx);
        this.record("smtp", true);
      } catch (err) {
        this.record("smtp", false, messageOf(err));
        // nodemailer appends the last reply to the message: keep the sentence as written
        throw Object.assign(err as Error, { oauth2Reason: messageOf(err), oauth2Unreachable: isMailerError(err, "unreachable") });
      }
    };
    return { auth: { type: "custom", method: SMTP_METHOD, user }, customAuth: { [SMTP_METHOD]: run } };
  }

  /** For --check: "SMTP AUTH XOAUTH2: token accepted" / "…: refused — reason", one line per protocol tried. */
  outcomeLines(): string[] {
    return [...this.outcomes].map(([p, o]) => `${p === "smtp" ? "SMTP AUTH" : "IMAP AUTHENTICATE"} ${o.mechanism}: ${o.accepted ? "token accepted" : `refused — ${o.detail}`}`);
  }
}

/** The session for AUTH_METHOD=oauth2, null for passwords. */
export function openOAuth2(config: Config, fetchImpl?: typeof fetch): OAuth2Session | null {
  if (config.authMethod !== "oauth2") return null;
  if (!config.oauth2) throw new MailerError("config", "AUTH_METHOD=oauth2 without OAUTH2_* settings");
  return new OAuth2Session(config.oauth2, config.emailLogin, config.stateDir, fetchImpl);
}

/** One line for --check and start-up: how EMAIL_LOGIN signs in. Never a secret. */
export function describeAuth(config: Config): string {
  const o = config.oauth2;
  if (config.authMethod !== "oauth2" || !o) return `password (EMAIL_PASSWORD) for ${config.emailLogin}`;
  const from = o.refreshToken ? "OAUTH2_REFRESH_TOKEN, or its rotated successor in STATE_DIR" : "STATE_DIR (bun run oauth-login)";
  return `OAuth2 (${o.provider}, ${o.mechanism}) for ${config.emailLogin}, client ${o.clientId}, token endpoint ${o.tokenUrl ? new URL(o.tokenUrl).host : "(none)"}, refresh token from ${from}`;
}

/**
 * A program's first access token, fetched at start: a revoked sign-in or a wrong client id ends
 * the start (MailerError, exit 2) instead of failing every ticket later. A token endpoint that
 * cannot be reached right now is only a warning (returned): the mail step retries it.
 */
export async function signInAtStart(session: OAuth2Session): Promise<string | null> {
  try {
    await session.source.accessToken();
    return null;
  } catch (err) {
    if (isMailerError(err, "unreachable")) return `warning: ${err.message} — tickets fail with MAIL_FAILED until it answers`;
    throw err;
  }
}
