// The AUTH_METHOD and OAUTH2_* keys, read by lib/shared/config.ts's reader so that their mistakes
// are listed by name with every other configuration problem (exit code 2).
import { isLoopback } from "../net";
import { PROVIDERS, preset, type LoginFlow, type Mechanism, type Provider } from "./presets";

export type AuthMethod = "password" | "oauth2";

export interface OAuth2Settings {
  provider: Provider;
  clientId: string;
  /** null for a public client (no secret) */
  clientSecret: string | null;
  tenant: string;
  tokenUrl: string;
  /** "" when the provider has none (Google's device flow does not allow mail scopes) */
  deviceUrl: string;
  authorizeUrl: string;
  scope: string;
  mechanism: Mechanism;
  flow: LoginFlow;
  authorizeParams: Record<string, string>;
  /** OAUTH2_REFRESH_TOKEN; the token store in STATE_DIR may hold a newer one */
  refreshToken: string | null;
}

/** The part of config.ts's reader used here. */
export interface KeyReader {
  readonly errors: string[];
  string(key: string, fallback: string): string;
}

export const OAUTH2_KEYS = [
  "OAUTH2_PROVIDER", "OAUTH2_CLIENT_ID", "OAUTH2_CLIENT_SECRET", "OAUTH2_TENANT", "OAUTH2_TOKEN_URL",
  "OAUTH2_DEVICE_URL", "OAUTH2_AUTHORIZE_URL", "OAUTH2_SCOPE", "OAUTH2_REFRESH_TOKEN", "OAUTH2_MECHANISM",
] as const;

/** AUTH_METHOD; an unknown value is reported and read as "password". */
export function readAuthMethod(r: KeyReader): AuthMethod {
  const value = r.string("AUTH_METHOD", "password").toLowerCase();
  if (value === "password" || value === "oauth2") return value;
  r.errors.push(`AUTH_METHOD=${JSON.stringify(value)} is not valid — use "password" (the default) or "oauth2"`);
  return "password";
}

/**
 * The OAUTH2_* keys. `needed`: the role signs in to a mail server (server, collector, the login
 * helper) and AUTH_METHOD=oauth2, so provider and client id are required. OAUTH2_* keys without
 * AUTH_METHOD=oauth2 are reported: they would otherwise be silently ignored.
 */
export function readOAuth2(r: KeyReader, method: AuthMethod, needed: boolean): OAuth2Settings | null {
  if (method !== "oauth2") {
    for (const key of OAUTH2_KEYS) {
      if (r.string(key, "")) r.errors.push(`${key} is set but AUTH_METHOD is not "oauth2" — set AUTH_METHOD=oauth2, or remove ${key}`);
    }
    return null;
  }
  const provider = readProvider(r, needed);
  const clientId = r.string("OAUTH2_CLIENT_ID", "");
  if (!clientId && needed) r.errors.push(`OAUTH2_CLIENT_ID is not set — with AUTH_METHOD=oauth2 give the client (application) id of your app registration (README, "Using a real mail provider")`);
  const tenant = r.string("OAUTH2_TENANT", "");
  if (tenant && provider !== "microsoft") r.errors.push(`OAUTH2_TENANT is only used with OAUTH2_PROVIDER=microsoft — remove it`);
  else if (tenant && !/^[A-Za-z0-9.-]{1,100}$/.test(tenant)) r.errors.push(`OAUTH2_TENANT=${JSON.stringify(tenant)} is not valid — use your directory (tenant) id, your domain, "organizations" or "common"`);
  const p = preset(provider ?? "custom", tenant);
  const tokenUrl = readUrl(r, "OAUTH2_TOKEN_URL", p.tokenUrl);
  if (!tokenUrl && needed && provider) r.errors.push(`OAUTH2_TOKEN_URL is not set — OAUTH2_PROVIDER=custom needs the provider's token endpoint`);
  return {
    provider: provider ?? "custom",
    clientId,
    clientSecret: r.string("OAUTH2_CLIENT_SECRET", "") || null,
    tenant,
    tokenUrl,
    deviceUrl: readUrl(r, "OAUTH2_DEVICE_URL", p.deviceUrl),
    authorizeUrl: readUrl(r, "OAUTH2_AUTHORIZE_URL", p.authorizeUrl),
    scope: r.string("OAUTH2_SCOPE", p.scope),
    mechanism: readMechanism(r, p.mechanism),
    flow: p.flow,
    authorizeParams: p.authorizeParams,
    refreshToken: r.string("OAUTH2_REFRESH_TOKEN", "") || null,
  };
}

function readProvider(r: KeyReader, needed: boolean): Provider | null {
  const value = r.string("OAUTH2_PROVIDER", "").toLowerCase();
  if ((PROVIDERS as readonly string[]).includes(value)) return value as Provider;
  if (value || needed) {
    const what = value ? `OAUTH2_PROVIDER=${JSON.stringify(value)} is not valid` : "OAUTH2_PROVIDER is not set";
    r.errors.push(`${what} — with AUTH_METHOD=oauth2 use "google", "microsoft" or "custom"`);
  }
  return null;
}

function readMechanism(r: KeyReader, fallback: Mechanism): Mechanism {
  const value = r.string("OAUTH2_MECHANISM", fallback).toUpperCase();
  if (value === "XOAUTH2" || value === "OAUTHBEARER") return value;
  r.errors.push(`OAUTH2_MECHANISM=${JSON.stringify(value.toLowerCase())} is not valid — use "xoauth2" or "oauthbearer" (RFC 7628), or leave it unset for the provider's own`);
  return fallback;
}

/** https, or http to this machine only: a token sent in clear over a network is a token given away. */
function readUrl(r: KeyReader, key: string, fallback: string): string {
  const value = r.string(key, fallback);
  if (!value) return "";
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {}
  const loopback = url !== null && isLoopback(url.hostname);
  if (url && (url.protocol === "https:" || (url.protocol === "http:" && loopback)) && !url.username && !url.password) return value;
  r.errors.push(`${key}=${JSON.stringify(value)} is not valid — use an https:// URL (http:// only to 127.0.0.1 or localhost)`);
  return fallback;
}
