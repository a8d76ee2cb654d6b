// Access tokens for SMTP and IMAP: obtained with the refresh token (RFC 6749 §6), cached in
// memory, refreshed shortly before they expire, and dropped when a mail server refuses one, so
// that the next login fetches a fresh one. A rotated refresh token is stored at once (the old one
// may already be dead). Every token is handed to `onSecret` before anyone else sees it, so the
// redactor masks it from the first log line on.
import { MailerError } from "../errors";
import { isClientError, postForm, providerSaid, type Client } from "./endpoint";
import type { TokenStore } from "./token-store";

export interface TokenSourceOptions {
  tokenUrl: string;
  client: Client;
  scope: string;
  login: string;
  store: TokenStore;
  onSecret: (secret: string) => void;
  fetchImpl?: typeof fetch;
  now?: () => number;
}

/** Refresh this long before expiry (at most half the token's life). */
const EARLY_MS = 60_000;

export const RELOGIN_HINT = "run `bun run oauth-login` to sign in again";

export class TokenSource {
  private cached: { token: string; refreshAt: number } | null = null;
  private inflight: Promise<string> | null = null;
  /** refreshes done, for --check and tests */
  refreshes = 0;

  constructor(private readonly o: TokenSourceOptions) {}

  /** A token that should still be valid; concurrent callers share one refresh. */
  async accessToken(): Promise<string> {
    const now = (this.o.now ?? Date.now)();
    if (this.cached && now < this.cached.refreshAt) return this.cached.token;
    this.inflight ??= this.refresh().finally(() => (this.inflight = null));
    return this.inflight;
  }

  /** A server refused `token`: the next accessToken() refreshes. */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = null;
  }

  private async refresh(): Promise<string> {
    let refreshToken = this.o.store.current();
    let reply = await this.grant(refreshToken);
    // Another process on this STATE_DIR may have rotated the token a moment ago: use its new one.
    if (!reply.ok && reply.error === "invalid_grant" && this.o.store.current() !== refreshToken) {
      refreshToken = this.o.store.current();
      reply = await this.grant(refreshToken);
    }
    if (!reply.ok) throw this.refusal(reply);
    const token = reply.body.access_token;
    if (typeof token !== "string" || !token) throw new MailerError("auth", `the OAuth2 token endpoint ${this.o.tokenUrl} answered without an access_token — is OAUTH2_TOKEN_URL right?`);
    this.o.onSecret(token);
    const rotated = reply.body.refresh_token;
    if (typeof rotated === "string" && rotated && rotated !== refreshToken) {
      this.o.onSecret(rotated);
      this.o.store.save(rotated);
    }
    const lifeMs = (Number(reply.body.expires_in) > 0 ? Number(reply.body.expires_in) : 3600) * 1000;
    this.cached = { token, refreshAt: (this.o.now ?? Date.now)() + lifeMs - Math.min(EARLY_MS, lifeMs / 2) };
    this.refreshes++;
    return token;
  }

  private grant(refreshToken: string) {
    this.o.onSecret(refreshToken);
    const form: Record<string, string> = { grant_type: "refresh_token", refresh_token: refreshToken };
    if (this.o.scope) form.scope = this.o.scope;
    return postForm(this.o.tokenUrl, this.o.client, form, this.o.fetchImpl);
  }

  private refusal(reply: { error: string; description: string }): MailerError {
    const said = providerSaid(reply);
    if (isClientError(reply.error)) {
      return new MailerError("config", `the OAuth2 provider refused the client OAUTH2_CLIENT_ID=${this.o.client.clientId} (${said}) — check OAUTH2_CLIENT_ID, OAUTH2_CLIENT_SECRET and OAUTH2_TENANT`);
    }
    if (reply.error === "invalid_scope") {
      return new MailerError("config", `the OAuth2 provider refused the scopes OAUTH2_SCOPE=${this.o.scope} (${said}) — check OAUTH2_SCOPE, then ${RELOGIN_HINT}`);
    }
    return new MailerError("auth", `the OAuth2 provider refused the refresh token of EMAIL_LOGIN=${this.o.login} (${said}): the sign-in was revoked or has expired — ${RELOGIN_HINT}`);
  }
}
