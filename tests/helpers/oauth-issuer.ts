// A small OAuth2 authorization server on loopback, for the tests: the token endpoint
// (refresh_token grant with rotation, authorization_code with PKCE, device_code), the device
// authorization endpoint (RFC 8628), the authorization endpoint (decides as the test says), RFC
// 7662 introspection (what Dovecot's oauth2 passdb asks) and RFC 7009 revocation. Every token it
// ever issued is in `issued`, so a test can check that none of them reached any output.
import { createHash, randomBytes } from "node:crypto";

export interface IssuerOptions {
  clientId?: string;
  /** when set, the client is confidential and must send it */
  clientSecret?: string;
  /** seconds an access token lives (default 3600) */
  accessTtl?: number;
  /** a new refresh token with every refresh, the old one revoked (default true) */
  rotate?: boolean;
}

interface Grant {
  username: string;
  scope: string;
}

interface Device extends Grant {
  deviceCode: string;
  userCode: string;
  state: "pending" | "approved" | "denied";
  expires: number;
}

const rand = (prefix: string) => `${prefix}${randomBytes(24).toString("base64url")}`;

export class OAuthIssuer {
  readonly clientId: string;
  readonly issued = new Set<string>();
  /** counts by endpoint and grant, for "it was refreshed" assertions */
  readonly calls: Record<string, number> = {};
  /** what /authorize answers next: approve as `username`, or deny */
  authorizeAs: { username: string } | "deny" = "deny";
  private readonly access = new Map<string, Grant & { expires: number }>();
  private readonly refresh = new Map<string, Grant>();
  private readonly codes = new Map<string, Grant & { challenge: string; redirectUri: string }>();
  private readonly devices = new Map<string, Device>();
  private server: ReturnType<typeof Bun.serve> | null = null;

  constructor(private readonly o: IssuerOptions = {}) {
    this.clientId = o.clientId ?? "mailer-test-client";
  }

  get url(): string {
    if (!this.server) throw new Error("issuer not started");
    return `http://127.0.0.1:${this.server.port}`;
  }

  start(): this {
    this.server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => this.route(req) });
    return this;
  }

  stop(): void {
    this.server?.stop(true);
    this.server = null;
  }

  /** A refresh token as if the person had signed in already. */
  mintRefreshToken(username: string, scope = "mail"): string {
    const token = this.remember(rand("rt_"));
    this.refresh.set(token, { username, scope });
    return token;
  }

  /** Every access token stops working now (the client still believes it valid). */
  expireAccessTokens(): void {
    for (const grant of this.access.values()) grant.expires = 0;
  }

  revokeRefreshTokens(): void {
    this.refresh.clear();
  }

  /** The person opens the verification URL and enters `userCode`. */
  decideDevice(userCode: string, decision: { username: string } | "deny"): void {
    const device = [...this.devices.values()].find((d) => d.userCode === userCode);
    if (!device) throw new Error(`no device authorization with user code ${userCode}`);
    if (decision === "deny") device.state = "denied";
    else Object.assign(device, { state: "approved", username: decision.username });
  }

  expireDeviceCodes(): void {
    for (const d of this.devices.values()) d.expires = 0;
  }

  private remember(token: string): string {
    this.issued.add(token);
    return token;
  }

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }

  private async route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/authorize") return this.authorize(url.searchParams);
    if (req.method !== "POST") return json(404, { error: "not_found" });
    const form = new URLSearchParams(await req.text());
    switch (url.pathname) {
      case "/token":
        return this.token(form, req);
      case "/devicecode":
        return this.deviceAuthorization(form);
      case "/introspect":
        return this.introspect(form);
      case "/revoke":
        this.count("revoke");
        this.refresh.delete(form.get("token") ?? "");
        this.access.delete(form.get("token") ?? "");
        return new Response(null, { status: 200 });
    }
    return json(404, { error: "not_found" });
  }

  /** RFC 6749 §2.3: client_secret in the body or HTTP Basic; client_id must be ours. */
  private clientError(form: URLSearchParams, req: Request): Response | null {
    let id = form.get("client_id");
    let secret = form.get("client_secret");
    const basic = /^Basic (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
    if (basic) [id, secret] = Buffer.from(basic, "base64").toString().split(":").map(decodeURIComponent) as [string, string];
    if (id !== this.clientId) return json(400, { error: "invalid_client", error_description: `unknown client_id ${id}` });
    if (this.o.clientSecret !== undefined && secret !== this.o.clientSecret) return json(401, { error: "invalid_client", error_description: "wrong client secret" });
    return null;
  }

  private token(form: URLSearchParams, req: Request): Response {
    const grantType = form.get("grant_type") ?? "";
    this.count(`token:${grantType}`);
    const bad = this.clientError(form, req);
    if (bad) return bad;
    if (grantType === "refresh_token") {
      const old = form.get("refresh_token") ?? "";
      const grant = this.refresh.get(old);
      if (!grant) return json(400, { error: "invalid_grant", error_description: "refresh token revoked or unknown" });
      if (this.o.rotate !== false) this.refresh.delete(old);
      return this.tokens(grant, this.o.rotate === false ? old : undefined);
    }
    if (grantType === "authorization_code") return this.exchangeCode(form);
    if (grantType === "urn:ietf:params:oauth:grant-type:device_code") return this.pollDevice(form);
    return json(400, { error: "unsupported_grant_type" });
  }

  private tokens(grant: Grant, keepRefresh?: string): Response {
    const accessToken = this.remember(rand("at_"));
    const expiresIn = this.o.accessTtl ?? 3600;
    this.access.set(accessToken, { ...grant, expires: Date.now() + expiresIn * 1000 });
    const refreshToken = keepRefresh ?? this.remember(rand("rt_"));
    this.refresh.set(refreshToken, grant);
    return json(200, { access_token: accessToken, token_type: "Bearer", expires_in: expiresIn, refresh_token: refreshToken, scope: grant.scope });
  }

  private authorize(q: URLSearchParams): Response {
    this.count("authorize");
    const redirect = new URL(q.get("redirect_uri") ?? "http://invalid/");
    const state = q.get("state") ?? "";
    if (q.get("client_id") !== this.clientId) return new Response(`unknown client_id ${q.get("client_id")}`, { status: 400 });
    if (q.get("code_challenge_method") !== "S256" || !q.get("code_challenge")) return new Response("PKCE S256 required", { status: 400 });
    if (this.authorizeAs === "deny") {
      redirect.search = new URLSearchParams({ error: "access_denied", error_description: "the user declined", state }).toString();
    } else {
      const code = this.remember(rand("code_"));
      this.codes.set(code, { username: this.authorizeAs.username, scope: q.get("scope") ?? "", challenge: q.get("code_challenge")!, redirectUri: q.get("redirect_uri")! });
      redirect.search = new URLSearchParams({ code, state }).toString();
    }
    return Response.redirect(redirect.toString(), 302);
  }

  private exchangeCode(form: URLSearchParams): Response {
    const code = this.codes.get(form.get("code") ?? "");
    this.codes.delete(form.get("code") ?? "");
    if (!code) return json(400, { error: "invalid_grant", error_description: "unknown or used code" });
    if (form.get("redirect_uri") !== code.redirectUri) return json(400, { error: "invalid_grant", error_description: "redirect_uri differs" });
    const verifier = form.get("code_verifier") ?? "";
    if (createHash("sha256").update(verifier).digest("base64url") !== code.challenge) {
      return json(400, { error: "invalid_grant", error_description: "PKCE verification failed" });
    }
    this.count("pkce-ok");
    return this.tokens(code);
  }

  private deviceAuthorization(form: URLSearchParams): Response {
    this.count("devicecode");
    if (form.get("client_id") !== this.clientId) return json(400, { error: "invalid_client", error_description: `unknown client_id ${form.get("client_id")}` });
    const device: Device = {
      deviceCode: this.remember(rand("dc_")),
      userCode: randomBytes(4).toString("hex").toUpperCase(),
      state: "pending",
      username: "",
      scope: form.get("scope") ?? "",
      expires: Date.now() + 600_000,
    };
    this.devices.set(device.deviceCode, device);
    return json(200, { device_code: device.deviceCode, user_code: device.userCode, verification_uri: `${this.url}/device`, expires_in: 600, interval: 1 });
  }

  private pollDevice(form: URLSearchParams): Response {
    const device = this.devices.get(form.get("device_code") ?? "");
    if (!device) return json(400, { error: "invalid_grant" });
    if (Date.now() > device.expires) return json(400, { error: "expired_token" });
    if (device.state === "denied") return json(400, { error: "access_denied" });
    if (device.state === "pending") return json(400, { error: "authorization_pending" });
    this.devices.delete(device.deviceCode);
    return this.tokens(device);
  }

  private introspect(form: URLSearchParams): Response {
    this.count("introspect");
    const grant = this.access.get(form.get("token") ?? "");
    if (!grant || Date.now() > grant.expires) return json(200, { active: false });
    return json(200, { active: true, username: grant.username, scope: grant.scope, exp: Math.floor(grant.expires / 1000) });
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}
