// `bun run oauth-login`: signs EMAIL_LOGIN in with the OAUTH2_* configuration once, in a browser,
// and stores the refresh token in STATE_DIR/oauth2-token.json (mode 0600), where the server and
// the collector read it. The token itself is never printed.
import { runCommand, type CommandSpec } from "../lib/shared/args";
import { loadConfig } from "../lib/shared/config";
import { EXIT, MailerError } from "../lib/shared/errors";
import { deviceLogin, loopbackLogin } from "../lib/shared/oauth2/login";
import { TokenStore } from "../lib/shared/oauth2/token-store";

const spec: CommandSpec = {
  program: "scripts/oauth-login.ts",
  usage: `Usage: bun run oauth-login [--flow device|loopback] [--port N] [--timeout SECONDS]

Signs EMAIL_LOGIN in to the OAuth2 provider of the configuration (AUTH_METHOD=oauth2,
OAUTH2_PROVIDER, OAUTH2_CLIENT_ID, …; docs/providers.md "Using a real mail provider") and stores the
refresh token in STATE_DIR/oauth2-token.json (mode 0600). The server and the collector use it
from then on, and keep it up to date when the provider rotates it. Run it again whenever they
say the sign-in was revoked or has expired.

  --flow device     show a code to enter at the provider's page (RFC 8628); the default for
                    microsoft (and custom, when OAUTH2_DEVICE_URL is set)
  --flow loopback   open the provider's page in a browser on this machine, which comes back to
                    http://127.0.0.1:PORT/ (RFC 8252, with PKCE); the default for google
  --port N          the loopback port (default: any free one)
  --timeout S       how long to wait for the browser (loopback; default 300)

Exit codes: 0 signed in and stored; 2 configuration, declined, expired or refused; 3 the
provider could not be reached.`,
  options: { flow: { type: "string" }, port: { type: "string" }, timeout: { type: "string" } },
};

async function main(values: Record<string, string | boolean | undefined>): Promise<number> {
  const result = loadConfig(process.env, "oauth-login");
  if (!result.ok) throw new MailerError("config", `Configuration error (oauth-login):\n${result.errors.map((e) => `  - ${e}`).join("\n")}`);
  const config = result.config;
  if (config.authMethod !== "oauth2" || !config.oauth2) {
    throw new MailerError("config", "AUTH_METHOD is not oauth2 — set AUTH_METHOD=oauth2, OAUTH2_PROVIDER and OAUTH2_CLIENT_ID first (README, \"Using a real mail provider\")");
  }
  const settings = config.oauth2;
  const flow = String(values.flow ?? (settings.provider === "custom" && !settings.deviceUrl ? "loopback" : settings.flow));
  if (flow !== "device" && flow !== "loopback") throw new MailerError("usage", `--flow ${flow}: use device or loopback`);
  const port = numberOption(values.port, "--port", 0, 65535) ?? 0;
  const timeout = numberOption(values.timeout, "--timeout", 1, 86_400) ?? 300;

  const options = { settings, login: config.emailLogin, say: (l: string) => console.log(l), port, timeoutMs: timeout * 1000 };
  const tokens = flow === "device" ? await deviceLogin(options) : await loopbackLogin(options);

  const store = new TokenStore(config.stateDir, { login: config.emailLogin, clientId: settings.clientId, tokenUrl: settings.tokenUrl }, settings.refreshToken);
  store.save(tokens.refreshToken);
  console.log(`Signed in as ${config.emailLogin}. The refresh token is stored in ${store.path} (mode 0600); the server and the collector use it from now on.`);
  if (settings.refreshToken) console.log("OAUTH2_REFRESH_TOKEN in your configuration is superseded by it; you may remove that key.");
  return EXIT.OK;
}

function numberOption(value: string | boolean | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new MailerError("usage", `${name} ${value}: use a whole number from ${min} to ${max}`);
  return n;
}

process.exit(await runCommand(spec, Bun.argv.slice(2), (line) => main(line.values)));
