// Getting the first refresh token (`bun run oauth-login`): the device authorization grant (RFC
// 8628; Microsoft allows it for the mail scopes) and the authorization-code grant with a loopback
// redirect and PKCE (RFC 8252, RFC 7636; Google, whose device flow refuses mail scopes). Both end
// with a token reply holding a refresh token; the caller stores it.
import { createHash, randomBytes } from "node:crypto";
import { MailerError } from "../errors";
import { isClientError, postForm, providerSaid, type EndpointReply } from "./endpoint";
import type { OAuth2Settings } from "./settings";

export interface LoginOptions {
  settings: OAuth2Settings;
  login: string;
  /** one line for the person (the URL to open, the code to enter, progress) */
  say: (line: string) => void;
  /** loopback flow: the port to listen on (0 = any free one) */
  port?: number;
  /** loopback flow: how long to wait for the browser */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

export interface Tokens {
  refreshToken: string;
  accessToken: string;
}

const AGAIN = "run `bun run oauth-login` again";
const client = (s: OAuth2Settings) => ({ clientId: s.clientId, clientSecret: s.clientSecret });

function wrongClient(s: OAuth2Settings, reply: { error: string; description: string }): MailerError {
  return new MailerError("config", `the provider does not accept OAUTH2_CLIENT_ID=${s.clientId} (${providerSaid(reply)}) — copy the client (application) id of your app registration${s.provider === "microsoft" ? ", check OAUTH2_TENANT, and that \"Allow public client flows\" is on" : ""}`);
}

/** A token reply that must carry a refresh token. */
function tokensOf(reply: Extract<EndpointReply, { ok: true }>, s: OAuth2Settings): Tokens {
  const { refresh_token: refreshToken, access_token: accessToken } = reply.body;
  if (typeof refreshToken !== "string" || !refreshToken || typeof accessToken !== "string") {
    const hint = s.provider === "google" ? "Google sends one only with access_type=offline and prompt=consent (the preset sets both)" : "include offline_access in OAUTH2_SCOPE";
    throw new MailerError("auth", `the sign-in worked but the provider sent no refresh token — ${hint}, then ${AGAIN}`);
  }
  return { refreshToken, accessToken };
}

/** RFC 8628: show the code, poll the token endpoint until the person has decided. */
export async function deviceLogin(o: LoginOptions): Promise<Tokens> {
  const s = o.settings;
  if (!s.deviceUrl) throw new MailerError("config", `OAUTH2_PROVIDER=${s.provider} has no device authorization endpoint${s.provider === "google" ? " for mail scopes" : " (OAUTH2_DEVICE_URL)"} — use --flow loopback`);
  const start = await postForm(s.deviceUrl, client(s), s.scope ? { scope: s.scope } : {}, o.fetchImpl);
  if (!start.ok) throw isClientError(start.error) ? wrongClient(s, start) : new MailerError("auth", `the device authorization was refused (${providerSaid(start)}) — check OAUTH2_SCOPE, then ${AGAIN}`);
  const b = start.body as Record<string, string | number | undefined>;
  const uri = String(b.verification_uri ?? b.verification_url ?? "");
  o.say(`To sign in as ${o.login}, open ${uri} in a browser and enter the code ${b.user_code}`);
  if (b.verification_uri_complete) o.say(`(or open ${b.verification_uri_complete} directly)`);
  const minutes = Math.round(Number(b.expires_in ?? 900) / 60);
  o.say(`Waiting for the sign-in (the code is valid for ${minutes} minutes; Ctrl-C to give up)…`);
  let interval = Math.max(1, Number(b.interval ?? 5)) * 1000;
  for (;;) {
    await Bun.sleep(interval);
    const reply = await postForm(s.tokenUrl, client(s), { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: String(b.device_code) }, o.fetchImpl);
    if (reply.ok) return tokensOf(reply, s);
    if (reply.error === "authorization_pending") continue;
    if (reply.error === "slow_down") interval += 5000;
    else throw deviceError(s, reply, minutes);
  }
}

function deviceError(s: OAuth2Settings, reply: { error: string; description: string }, minutes: number): MailerError {
  if (reply.error === "access_denied" || reply.error === "authorization_declined") {
    return new MailerError("auth", `the sign-in was declined (${providerSaid(reply)}) — ${AGAIN} and accept the permissions Mailer asks for (or ask your administrator to consent for the organisation)`);
  }
  if (reply.error === "expired_token" || reply.error === "code_expired") {
    return new MailerError("auth", `the code expired before the sign-in was finished (${providerSaid(reply)}) — ${AGAIN} and finish within ${minutes} minutes`);
  }
  if (isClientError(reply.error)) return wrongClient(s, reply);
  return new MailerError("auth", `the sign-in failed (${providerSaid(reply)}) — ${AGAIN}`);
}

/** RFC 7636 S256: the verifier stays here, the challenge goes to the browser. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** RFC 8252 §7.3: a one-shot listener on 127.0.0.1 receives the browser's redirect. */
export async function loopbackLogin(o: LoginOptions): Promise<Tokens> {
  const s = o.settings;
  if (!s.authorizeUrl) throw new MailerError("config", "no authorization endpoint: set OAUTH2_AUTHORIZE_URL, or use --flow device");
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString("base64url");
  const redirect = waitForRedirect(o.port ?? 0, state, o.timeoutMs ?? 300_000);
  const redirectUri = `http://127.0.0.1:${redirect.port}/`;
  const url = new URL(s.authorizeUrl);
  const params = { response_type: "code", client_id: s.clientId, redirect_uri: redirectUri, scope: s.scope, state, code_challenge: challenge, code_challenge_method: "S256", login_hint: o.login, ...s.authorizeParams };
  for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
  o.say(`To sign in as ${o.login}, open this address in a browser on this machine:\n\n  ${url}\n`);
  o.say(`Waiting for the browser to come back to ${redirectUri} (Ctrl-C to give up)…`);
  const code = await redirect.code;
  const reply = await postForm(s.tokenUrl, client(s), { grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier }, o.fetchImpl);
  if (reply.ok) return tokensOf(reply, s);
  if (isClientError(reply.error)) throw wrongClient(s, reply);
  throw new MailerError("auth", `the provider refused the authorization code (${providerSaid(reply)}) — ${AGAIN}`);
}

function waitForRedirect(port: number, state: string, timeoutMs: number): { port: number; code: Promise<string> } {
  let settle!: (result: { code: string } | { error: MailerError }) => void;
  const result = new Promise<{ code: string } | { error: MailerError }>((resolve) => (settle = resolve));
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch(req) {
      const q = new URL(req.url).searchParams;
      if (!q.has("code") && !q.has("error")) return new Response("Not found", { status: 404 });
      if (q.get("state") !== state) return new Response("This sign-in answer does not belong to the running oauth-login.", { status: 400 });
      const error = q.get("error");
      if (error === "access_denied") settle({ error: new MailerError("auth", `the sign-in was declined in the browser (${providerSaid({ error, description: q.get("error_description") ?? "" })}) — ${AGAIN} and accept the permissions Mailer asks for`) });
      else if (error) settle({ error: new MailerError("auth", `the provider refused the sign-in (${providerSaid({ error, description: q.get("error_description") ?? "" })}) — check OAUTH2_CLIENT_ID and OAUTH2_SCOPE, then ${AGAIN}`) });
      else settle({ code: q.get("code")! });
      return new Response(`<!doctype html><meta charset="utf-8"><title>Mailer</title><p>${error ? "Sign-in not completed" : "Signed in"} — you can close this window and return to the terminal.</p>`, { headers: { "content-type": "text/html; charset=utf-8" } });
    },
  });
  const timer = setTimeout(() => settle({ error: new MailerError("auth", `no answer from the browser within ${Math.round(timeoutMs / 1000)} s — ${AGAIN}; if the provider's page showed an error (invalid_client, "app not found"), check OAUTH2_CLIENT_ID`) }), timeoutMs);
  const code = result.then((r) => {
    clearTimeout(timer);
    // let the browser's page arrive before the listener goes
    setTimeout(() => server.stop(true), 200);
    if ("error" in r) throw r.error;
    return r.code;
  });
  return { port: server.port!, code };
}
