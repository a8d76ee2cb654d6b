// OAuth2 pieces without mail servers: configuration keys, the token source and store against the
// loopback issuer, the SASL messages, redaction of tokens and their base64 forms.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "../../lib/shared/config";
import { isMailerError, MailerError } from "../../lib/shared/errors";
import { describeChallenge, saslMessage } from "../../lib/shared/oauth2/sasl";
import { describeAuth, openOAuth2 } from "../../lib/shared/oauth2/session";
import { TokenSource } from "../../lib/shared/oauth2/token-source";
import { TokenStore } from "../../lib/shared/oauth2/token-store";
import { makeRedactor, SecretBook } from "../../lib/shared/redact";
import { tempDir } from "../helpers/env";
import { readmeSection } from "../helpers/readme";
import { OAUTH2_KEYS } from "../../lib/shared/oauth2/settings";
import { OAuthIssuer } from "../helpers/oauth-issuer";

const base = { EMAIL_LOGIN: "admin@example.com", IMAP_HOST: "imap.example.com", IMAP_PORT: "993", PERIOD_CHECK: "60" };
const errorsOf = (env: Record<string, string>, role: "collector" | "server" | "client" = "collector") => {
  const r = loadConfig({ ...base, ...env }, role);
  return r.ok ? [] : r.errors;
};
const configOf = (env: Record<string, string>): Config => {
  const r = loadConfig({ ...base, ...env }, "collector");
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.config;
};

describe("configuration keys", () => {
  test("AUTH_METHOD=oauth2 replaces EMAIL_PASSWORD; provider and client id are required, by name", () => {
    expect(errorsOf({})).toEqual([expect.stringContaining("EMAIL_PASSWORD is not set")]);
    const errors = errorsOf({ AUTH_METHOD: "oauth2" });
    expect(errors.join("\n")).not.toContain("EMAIL_PASSWORD");
    expect(errors).toEqual([expect.stringContaining("OAUTH2_PROVIDER is not set"), expect.stringContaining("OAUTH2_CLIENT_ID is not set")]);
  });

  test("every mistake is reported by name", () => {
    expect(errorsOf({ AUTH_METHOD: "kerberos", EMAIL_PASSWORD: "x" })).toEqual([expect.stringContaining('AUTH_METHOD="kerberos" is not valid')]);
    const errors = errorsOf({
      AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "google", OAUTH2_CLIENT_ID: "id", OAUTH2_TENANT: "contoso.com",
      OAUTH2_MECHANISM: "plain", OAUTH2_TOKEN_URL: "http://auth.example.com/token",
    }).join("\n");
    expect(errors).toContain("OAUTH2_TENANT is only used with OAUTH2_PROVIDER=microsoft");
    expect(errors).toContain('OAUTH2_MECHANISM="plain" is not valid');
    expect(errors).toContain('OAUTH2_TOKEN_URL="http://auth.example.com/token" is not valid — use an https:// URL');
    expect(errorsOf({ AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "custom", OAUTH2_CLIENT_ID: "id" })).toEqual([expect.stringContaining("OAUTH2_TOKEN_URL is not set")]);
    expect(errorsOf({ AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "yahoo", OAUTH2_CLIENT_ID: "id" })).toEqual([expect.stringContaining('OAUTH2_PROVIDER="yahoo" is not valid')]);
  });

  test("OAUTH2_* keys without AUTH_METHOD=oauth2 are reported, also by a role that does not sign in", () => {
    expect(errorsOf({ EMAIL_PASSWORD: "x", OAUTH2_CLIENT_ID: "id" })).toEqual([expect.stringContaining('OAUTH2_CLIENT_ID is set but AUTH_METHOD is not "oauth2"')]);
    expect(errorsOf({ OAUTH2_PROVIDER: "google" }, "client")).toHaveLength(1);
  });

  test("presets fill in endpoints, scopes and mechanism; keys override them", () => {
    const ms = configOf({ AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "microsoft", OAUTH2_CLIENT_ID: "id", OAUTH2_TENANT: "contoso.onmicrosoft.com" }).oauth2!;
    expect(ms.tokenUrl).toBe("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    expect(ms.deviceUrl).toBe("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode");
    for (const s of ["IMAP.AccessAsUser.All", "SMTP.Send", "offline_access"]) expect(ms.scope).toContain(s);
    expect([ms.mechanism, ms.flow]).toEqual(["XOAUTH2", "device"]);
    const g = configOf({ AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "google", OAUTH2_CLIENT_ID: "id", OAUTH2_CLIENT_SECRET: "s", OAUTH2_MECHANISM: "oauthbearer" }).oauth2!;
    expect([g.scope, g.mechanism, g.flow, g.deviceUrl]).toEqual(["https://mail.google.com/", "OAUTHBEARER", "loopback", ""]);
    const c = configOf({ AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "custom", OAUTH2_CLIENT_ID: "id", OAUTH2_TOKEN_URL: "http://127.0.0.1:9/token" }).oauth2!;
    expect(c.mechanism).toBe("OAUTHBEARER");
  });

  test("every key is in the README's configuration table", () => {
    const table = readmeSection("Configuration");
    for (const key of ["AUTH_METHOD", ...OAUTH2_KEYS]) expect(table).toContain(`\`${key}\``);
  });

  test("describeAuth names the method and mechanism, never a secret", () => {
    const c = configOf({ AUTH_METHOD: "oauth2", OAUTH2_PROVIDER: "microsoft", OAUTH2_CLIENT_ID: "id", OAUTH2_CLIENT_SECRET: "sekret-value", OAUTH2_REFRESH_TOKEN: "rt-value-123" });
    const line = describeAuth(c);
    expect(line).toContain("OAuth2 (microsoft, XOAUTH2)");
    expect(line).not.toContain("sekret-value");
    expect(line).not.toContain("rt-value-123");
    expect(describeAuth(configOf({ EMAIL_PASSWORD: "pw-123" }))).not.toContain("pw-123");
  });
});

describe("token source and store (loopback issuer)", () => {
  let issuer: OAuthIssuer;
  const dirs: (() => void)[] = [];
  beforeAll(() => void (issuer = new OAuthIssuer({ rotate: true, accessTtl: 3600 }).start()));
  afterAll(() => {
    issuer.stop();
    for (const d of dirs) d();
  });

  function source(refreshToken: string | null, o: { now?: () => number; dir?: string; clientId?: string } = {}) {
    const dir = o.dir ?? tempDir("mailer-o2u-").path;
    const account = { login: "admin@mailer.test", clientId: o.clientId ?? issuer.clientId, tokenUrl: `${issuer.url}/token` };
    const store = new TokenStore(dir, account, refreshToken);
    const secrets = new SecretBook();
    const src = new TokenSource({ tokenUrl: account.tokenUrl, client: { clientId: account.clientId, clientSecret: null }, scope: "mail", login: account.login, store, onSecret: (s) => secrets.add(s), now: o.now });
    return { src, store, dir, secrets };
  }

  test("caches the token, shares one refresh between callers, refreshes a minute before expiry", async () => {
    let now = 1_000_000;
    const { src } = source(issuer.mintRefreshToken("admin@mailer.test"), { now: () => now });
    const [a, b] = await Promise.all([src.accessToken(), src.accessToken()]);
    expect(a).toBe(b);
    expect(src.refreshes).toBe(1);
    now += 3_530_000; // 59 min in: still good
    expect(await src.accessToken()).toBe(a);
    now += 20_000; // 40 s before expiry: refreshed ahead
    expect(await src.accessToken()).not.toBe(a);
    expect(src.refreshes).toBe(2);
  });

  test("a refused token is dropped: the next call refreshes", async () => {
    const { src } = source(issuer.mintRefreshToken("admin@mailer.test"));
    const first = await src.accessToken();
    src.invalidate(first);
    expect(await src.accessToken()).not.toBe(first);
  });

  test("a rotated refresh token is stored 0600 and wins over the configured one on the next start", async () => {
    const configured = issuer.mintRefreshToken("admin@mailer.test");
    const { src, store, dir, secrets } = source(configured);
    await src.accessToken();
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    const rotated = JSON.parse(readFileSync(store.path, "utf8")).refreshToken;
    expect(rotated).not.toBe(configured);
    expect([...secrets]).toContain(rotated);
    // restart: same configuration, the store's token is used (the configured one is dead now)
    expect(await source(configured, { dir }).src.accessToken()).toStartWith("at_");
  });

  test("a new OAUTH2_REFRESH_TOKEN put in later wins over the stored one", async () => {
    const { src, dir, store } = source(issuer.mintRefreshToken("admin@mailer.test"));
    await src.accessToken();
    const fresh = issuer.mintRefreshToken("admin@mailer.test");
    expect(new TokenStore(dir, { login: "admin@mailer.test", clientId: issuer.clientId, tokenUrl: `${issuer.url}/token` }, fresh).current()).toBe(fresh);
    expect(store.current()).not.toBe(fresh);
  });

  test("another process's rotation on the same STATE_DIR is picked up", async () => {
    const configured = issuer.mintRefreshToken("admin@mailer.test");
    const { src, dir } = source(configured);
    await src.accessToken(); // rotated once, stored
    const sibling = source(configured, { dir }); // the collector next to the server: same .env
    await sibling.src.accessToken(); // rotates again: the first source's idea of the token is dead
    src.invalidate(await src.accessToken());
    expect(await src.accessToken()).toStartWith("at_");
  });

  test("revoked: an auth MailerError (exit 2) that says to run bun run oauth-login", async () => {
    const { src } = source("rt_never_issued_by_this_issuer");
    const err = await src.accessToken().catch((e) => e);
    expect(isMailerError(err, "auth")).toBe(true);
    expect((err as MailerError).exitCode).toBe(2);
    expect(err.message).toContain("invalid_grant");
    expect(err.message).toContain("bun run oauth-login");
  });

  test("wrong client id: a configuration error naming OAUTH2_CLIENT_ID", async () => {
    const err = await source(issuer.mintRefreshToken("admin@mailer.test"), { clientId: "not-our-client" }).src.accessToken().catch((e) => e);
    expect(isMailerError(err, "config")).toBe(true);
    expect(err.message).toContain("OAUTH2_CLIENT_ID=not-our-client");
  });

  test("no refresh token anywhere, a store of another account, a damaged store: each says what to do", () => {
    const { store, dir } = source(null);
    expect(() => store.current()).toThrow(/no OAuth2 refresh token .*bun run oauth-login/);
    store.save("rt_x");
    const other = new TokenStore(dir, { login: "someone@else.test", clientId: issuer.clientId, tokenUrl: `${issuer.url}/token` }, null);
    expect(() => other.current()).toThrow(/holds the sign-in of admin@mailer.test/);
    writeFileSync(join(dir, "oauth2-token.json"), "{not json");
    expect(() => store.current()).toThrow(/not a Mailer token file/);
  });

  test("openOAuth2 is null for passwords", () => {
    expect(openOAuth2(configOf({ EMAIL_PASSWORD: "x" }))).toBeNull();
  });
});

describe("SASL messages and redaction", () => {
  test("XOAUTH2 as Google documents it; OAUTHBEARER as RFC 7628 §4.1", () => {
    const x = Buffer.from(saslMessage("XOAUTH2", "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "h", 1), "base64").toString();
    expect(x).toBe("user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
    const o = Buffer.from(saslMessage("OAUTHBEARER", "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143), "base64").toString();
    expect(o).toBe("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01");
    expect(Buffer.from(saslMessage("OAUTHBEARER", "a,b=c", "t", "h", 1), "base64").toString()).toStartWith("n,a=a=2Cb=3Dc,");
    expect(describeChallenge(Buffer.from('{"status":"invalid_token","schemes":"bearer"}').toString("base64"))).toBe("invalid_token");
  });

  test("tokens learned while running, and every SASL form, are masked", () => {
    const book = new SecretBook();
    const redact = makeRedactor("admin@mailer.test", "", book);
    const token = "at_learned_token_value_1234";
    expect(redact(`token ${token}`)).toContain(token);
    book.add(token);
    expect(redact(`token ${token}`)).toBe("token ***");
    for (const mechanism of ["XOAUTH2", "OAUTHBEARER"] as const) {
      for (const user of ["a@b.c", "ab@b.c", "abc@b.c"]) {
        const line = `C: AUTH ${mechanism} ${saslMessage(mechanism, user, "some-other-token", "host", 587)}`;
        expect(redact(line)).toBe(`C: AUTH ${mechanism} ***`);
      }
    }
  });
});
