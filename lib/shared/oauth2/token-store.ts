// The refresh token, kept in STATE_DIR/oauth2-token.json (mode 0600, replaced durably): written
// by `bun run oauth-login` and again whenever the provider rotates the token, so a restart keeps
// working. The file names the account it belongs to, and which OAUTH2_REFRESH_TOKEN it replaced:
// a new value put into that key later wins over the file.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MailerError } from "../errors";
import { writeFileDurably } from "../durable-file";

export const TOKEN_FILE = "oauth2-token.json";

export interface Account {
  login: string;
  clientId: string;
  tokenUrl: string;
}

interface Stored {
  account: Account;
  refreshToken: string;
  /** fingerprint of the OAUTH2_REFRESH_TOKEN this one superseded, or null */
  replaces: string | null;
  saved: string;
}

const fingerprint = (token: string | null) => (token ? createHash("sha256").update(token).digest("hex").slice(0, 16) : null);
const sameAccount = (a: Account, b: Account) => a.login.toLowerCase() === b.login.toLowerCase() && a.clientId === b.clientId && a.tokenUrl === b.tokenUrl;

export class TokenStore {
  readonly path: string;

  /** `configured`: OAUTH2_REFRESH_TOKEN, or null */
  constructor(private readonly stateDir: string, private readonly account: Account, private readonly configured: string | null) {
    this.path = join(stateDir, TOKEN_FILE);
  }

  /** The refresh token to use now: the file's, unless OAUTH2_REFRESH_TOKEN is newer than it. */
  current(): string {
    const stored = this.read();
    if (stored && sameAccount(stored.account, this.account) && (!this.configured || stored.replaces === fingerprint(this.configured))) {
      return stored.refreshToken;
    }
    if (this.configured) return this.configured;
    if (stored) {
      throw new MailerError("auth", `${this.path} holds the sign-in of ${stored.account.login} with client ${stored.account.clientId}, not of EMAIL_LOGIN=${this.account.login} with OAUTH2_CLIENT_ID=${this.account.clientId} — run \`bun run oauth-login\` to sign in as ${this.account.login}`);
    }
    throw new MailerError("auth", `no OAuth2 refresh token for EMAIL_LOGIN=${this.account.login}: run \`bun run oauth-login\` (it stores one in ${this.path}), or set OAUTH2_REFRESH_TOKEN`);
  }

  /** Keeps a (new) refresh token; it supersedes the configured one from now on. */
  save(refreshToken: string): void {
    const stored: Stored = { account: this.account, refreshToken, replaces: fingerprint(this.configured), saved: new Date().toISOString() };
    try {
      writeFileDurably(this.stateDir, TOKEN_FILE, JSON.stringify(stored, null, 2) + "\n", 0o600);
    } catch (err) {
      throw new MailerError("state", `cannot store the OAuth2 refresh token in ${this.path}: ${(err as Error).message} — check that STATE_DIR=${this.stateDir} is writable`);
    }
  }

  private read(): Stored | null {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new MailerError("state", `cannot read ${this.path}: ${(err as Error).message} — check STATE_DIR's permissions`);
    }
    try {
      const v = JSON.parse(text) as Stored;
      if (typeof v.refreshToken === "string" && v.refreshToken && typeof v.account?.login === "string") return v;
    } catch {}
    throw new MailerError("state", `${this.path} is not a Mailer token file (damaged?) — delete it and run \`bun run oauth-login\``);
  }
}
