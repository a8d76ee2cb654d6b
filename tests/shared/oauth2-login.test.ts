// The login helper's flows against the loopback issuer: device code (pending → approved, denied,
// expired, wrong client id) and loopback redirect with PKCE (the issuer checks the verifier);
// then `bun run oauth-login` itself, end to end, storing the token where the programs read it.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { isMailerError } from "../../lib/shared/errors";
import { deviceLogin, loopbackLogin, type LoginOptions } from "../../lib/shared/oauth2/login";
import type { OAuth2Settings } from "../../lib/shared/oauth2/settings";
import { baseEnv, REPO, tempDir } from "../helpers/env";
import { OAuthIssuer } from "../helpers/oauth-issuer";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

let issuer: OAuthIssuer;
const cleanups: (() => void)[] = [];
beforeAll(() => void (issuer = new OAuthIssuer({ clientSecret: "desktop-secret" }).start()));
afterAll(() => {
  issuer.stop();
  for (const c of cleanups) c();
});

function settings(over: Partial<OAuth2Settings> = {}): OAuth2Settings {
  return {
    provider: "custom", clientId: issuer.clientId, clientSecret: "desktop-secret", tenant: "",
    tokenUrl: `${issuer.url}/token`, deviceUrl: `${issuer.url}/devicecode`, authorizeUrl: `${issuer.url}/authorize`,
    scope: "mail offline", mechanism: "OAUTHBEARER", flow: "device", authorizeParams: { access_type: "offline" }, refreshToken: null,
    ...over,
  };
}

/** The flow's options, with what it says collected, and a promise for the first line matching `re`. */
function io(over: Partial<OAuth2Settings> = {}) {
  const lines: string[] = [];
  const waiters: [RegExp, (m: RegExpExecArray) => void][] = [];
  const say = (line: string) => {
    lines.push(line);
    for (const [re, resolve] of waiters) if (re.exec(line)) resolve(re.exec(line)!);
  };
  const saw = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve) => {
      const said = lines.map((l) => re.exec(l)).find(Boolean);
      if (said) resolve(said);
      else waiters.push([re, resolve]);
    });
  const options: LoginOptions = { settings: settings(over), login: "admin@mailer.test", say, timeoutMs: 10_000 };
  return { options, lines, saw };
}

const polls = () => issuer.calls["token:urn:ietf:params:oauth:grant-type:device_code"] ?? 0;

describe("device authorization grant (RFC 8628)", () => {
  test("prints the page and code, keeps polling while pending, returns the tokens once approved", async () => {
    const { options, saw } = io();
    const flow = deviceLogin(options);
    const [, code] = await saw(/enter the code (\w+)/);
    const before = polls();
    while (polls() < before + 1) await Bun.sleep(50); // at least one "authorization_pending"
    issuer.decideDevice(code!, { username: "admin@mailer.test" });
    const tokens = await flow;
    expect(tokens.refreshToken).toStartWith("rt_");
    expect(polls()).toBeGreaterThanOrEqual(before + 2);
  }, 15_000);

  test("declined consent: says so, and to run oauth-login again", async () => {
    const { options, saw } = io();
    const flow = deviceLogin(options).catch((e) => e);
    issuer.decideDevice((await saw(/enter the code (\w+)/))[1]!, "deny");
    const err = await flow;
    expect(isMailerError(err, "auth")).toBe(true);
    expect(err.message).toContain("the sign-in was declined (access_denied)");
    expect(err.message).toContain("bun run oauth-login");
  }, 15_000);

  test("expired code: says so", async () => {
    const { options, saw } = io();
    const flow = deviceLogin(options).catch((e) => e);
    await saw(/enter the code/);
    issuer.expireDeviceCodes();
    const err = await flow;
    expect(err.message).toContain("the code expired before the sign-in was finished (expired_token)");
  }, 15_000);

  test("wrong client id: a configuration error naming OAUTH2_CLIENT_ID", async () => {
    const err = await deviceLogin(io({ clientId: "typo-client" }).options).catch((e) => e);
    expect(isMailerError(err, "config")).toBe(true);
    expect(err.message).toContain("OAUTH2_CLIENT_ID=typo-client");
    expect(err.message).toContain("invalid_client");
  });
});

describe("loopback redirect with PKCE (RFC 8252, RFC 7636)", () => {
  /** Plays the browser: opens the printed address and follows the redirect back to the helper. */
  async function browse(saw: (re: RegExp) => Promise<RegExpExecArray>) {
    const [, url] = await saw(/^\s*To sign in.*\n\n\s*(\S+)/);
    return fetch(url!, { redirect: "follow" });
  }

  test("the browser's code is exchanged with the verifier the issuer checks against the challenge", async () => {
    issuer.authorizeAs = { username: "admin@mailer.test" };
    const { options, saw } = io();
    // counted before the flow starts: the exchange may finish before the page has been read
    const okBefore = issuer.calls["pkce-ok"] ?? 0;
    const flow = loopbackLogin(options);
    const page = await browse(saw);
    expect(await page.text()).toContain("Signed in");
    expect((await flow).refreshToken).toStartWith("rt_");
    expect(issuer.calls["pkce-ok"]).toBe(okBefore + 1);
  }, 15_000);

  test("the authorization URL carries the S256 challenge, state, login hint and the provider's extra parameters", async () => {
    issuer.authorizeAs = { username: "admin@mailer.test" };
    const { options, saw } = io();
    const flow = loopbackLogin(options);
    const [, url] = await saw(/^\s*To sign in.*\n\n\s*(\S+)/);
    const q = new URL(url!).searchParams;
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("redirect_uri")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect([q.get("login_hint"), q.get("access_type")]).toEqual(["admin@mailer.test", "offline"]);
    expect(q.get("state")?.length).toBeGreaterThan(10);
    await fetch(url!);
    await flow;
  }, 15_000);

  test("declined in the browser: says so", async () => {
    issuer.authorizeAs = "deny";
    const { options, saw } = io();
    const flow = loopbackLogin(options).catch((e) => e);
    expect(await (await browse(saw)).text()).toContain("not completed");
    expect((await flow).message).toContain("the sign-in was declined in the browser (access_denied");
  }, 15_000);
});

describe("bun run oauth-login", () => {
  test("device flow end to end: prints the code, stores the refresh token 0600 in STATE_DIR, never prints it", async () => {
    const dir = tempDir("mailer-o2login-");
    cleanups.push(dir.cleanup);
    const env = baseEnv({
      EMAIL_LOGIN: "admin@mailer.test", STATE_DIR: join(dir.path, "state"), AUTH_METHOD: "oauth2",
      OAUTH2_PROVIDER: "custom", OAUTH2_CLIENT_ID: issuer.clientId, OAUTH2_CLIENT_SECRET: "desktop-secret",
      OAUTH2_TOKEN_URL: `${issuer.url}/token`, OAUTH2_DEVICE_URL: `${issuer.url}/devicecode`, OAUTH2_SCOPE: "mail",
    });
    const proc = Bun.spawn(["bun", "scripts/oauth-login.ts"], { cwd: REPO, env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    let out = "";
    const reader = (async () => {
      for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
    })();
    while (!/enter the code (\w+)/.test(out) && proc.exitCode === null) await Bun.sleep(20);
    issuer.decideDevice(/enter the code (\w+)/.exec(out)![1]!, { username: "admin@mailer.test" });
    const code = await proc.exited;
    await reader;
    const stderr = await new Response(proc.stderr).text();
    expect(code).toBe(0);
    const file = join(dir.path, "state", "oauth2-token.json");
    expect(out).toContain(`stored in ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, "utf8"));
    expect(stored.account).toEqual({ login: "admin@mailer.test", clientId: issuer.clientId, tokenUrl: `${issuer.url}/token` });
    for (const token of issuer.issued) expect(out + stderr).not.toContain(token);
  }, 20_000);

  test("without AUTH_METHOD=oauth2: exit 2 and what to set", async () => {
    const proc = Bun.spawnSync(["bun", "scripts/oauth-login.ts"], { cwd: REPO, env: baseEnv({ EMAIL_LOGIN: "a@b.test", EMAIL_PASSWORD: "x" }) });
    expect(proc.exitCode).toBe(2);
    expect(proc.stderr.toString()).toContain("AUTH_METHOD is not oauth2");
  });
});
