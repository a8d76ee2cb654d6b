// What each provider needs, so that a person sets OAUTH2_PROVIDER and a client id and nothing
// else: endpoints, the scopes that give IMAP and SMTP access, the SASL mechanism the provider's
// servers expect, and the sign-in flow `bun run oauth-login` uses. Any OAUTH2_* key overrides.

export type Provider = "google" | "microsoft" | "custom";
export type Mechanism = "XOAUTH2" | "OAUTHBEARER";
/** device = RFC 8628 device authorization grant; loopback = RFC 8252 redirect to 127.0.0.1 + PKCE */
export type LoginFlow = "device" | "loopback";

export interface Preset {
  tokenUrl: string;
  authorizeUrl: string;
  deviceUrl: string;
  scope: string;
  mechanism: Mechanism;
  flow: LoginFlow;
  /** extra authorization request parameters (Google hands out a refresh token only with these) */
  authorizeParams: Record<string, string>;
}

export const PROVIDERS: readonly Provider[] = ["google", "microsoft", "custom"];

/** The preset for a provider; `tenant` is Microsoft's directory (common, organizations, a domain or id). */
export function preset(provider: Provider, tenant: string): Preset {
  switch (provider) {
    case "google":
      // Google's device flow does not allow the mail scope: the loopback redirect it is.
      return {
        tokenUrl: "https://oauth2.googleapis.com/token",
        authorizeUrl: "https://accounts.google.com/o/oauth2/v2/auth",
        deviceUrl: "",
        scope: "https://mail.google.com/",
        mechanism: "XOAUTH2",
        flow: "loopback",
        authorizeParams: { access_type: "offline", prompt: "consent" },
      };
    case "microsoft": {
      const base = `https://login.microsoftonline.com/${tenant || "common"}/oauth2/v2.0`;
      return {
        tokenUrl: `${base}/token`,
        authorizeUrl: `${base}/authorize`,
        deviceUrl: `${base}/devicecode`,
        scope: "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access",
        mechanism: "XOAUTH2",
        flow: "device",
        authorizeParams: {},
      };
    }
    case "custom":
      // RFC 7628 is the standard mechanism (Dovecot, Stalwart, Cyrus offer it).
      return { tokenUrl: "", authorizeUrl: "", deviceUrl: "", scope: "", mechanism: "OAUTHBEARER", flow: "device", authorizeParams: {} };
  }
}
