// SASL for OAuth2: the XOAUTH2 (Google/Microsoft) and OAUTHBEARER (RFC 7628) client messages,
// the SMTP exchange as a nodemailer customAuth handler, and "once more with a fresh token" when a
// server refuses one (it may have expired early or been revoked server-side).
import type { Mechanism } from "./presets";
import type { TokenSource } from "./token-source";

export function saslMessage(mechanism: Mechanism, user: string, token: string, host: string, port: number): string {
  const fields =
    mechanism === "XOAUTH2"
      ? [`user=${user}`, `auth=Bearer ${token}`, "", ""]
      : [`n,a=${saslName(user)},`, `host=${host}`, `port=${port}`, `auth=Bearer ${token}`, "", ""];
  return Buffer.from(fields.join("\x01"), "utf8").toString("base64");
}

/** RFC 5801 saslname: "," and "=" are escaped. */
function saslName(user: string): string {
  return user.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

/** What the server said about a refused token (RFC 7628 §3.2.2: base64 JSON {"status": …}). */
export function describeChallenge(base64: string): string {
  try {
    const v = JSON.parse(Buffer.from(base64, "base64").toString("utf8")) as { status?: unknown };
    return typeof v.status === "string" ? v.status : "";
  } catch {
    return "";
  }
}

/** Runs `use` with an access token; if the server refuses it (`refused`), once more with a fresh one. */
export async function withFreshToken<T>(source: TokenSource, use: (token: string) => Promise<T>, refused: (err: unknown) => boolean): Promise<T> {
  const token = await source.accessToken();
  try {
    return await use(token);
  } catch (err) {
    if (!refused(err)) throw err;
    source.invalidate(token);
    return await use(await source.accessToken());
  }
}

interface SmtpReply {
  status: number;
  text?: string;
  response: string;
}

export interface SmtpAuthContext {
  sendCommand(cmd: string): Promise<SmtpReply>;
}

/**
 * The nodemailer customAuth handler. Registered under a name of its own: nodemailer replaces a
 * method called "XOAUTH2" by PLAIN when no nodemailer token generator is configured.
 */
export function smtpOAuth2Handler(o: { source: TokenSource; mechanism: Mechanism; user: string; host: string; port: number }) {
  class Refused extends Error {
    constructor(readonly reply: SmtpReply, readonly status: string) {
      super(reply.response);
    }
  }
  const attempt = async (ctx: SmtpAuthContext, token: string) => {
    let reply = await ctx.sendCommand(`AUTH ${o.mechanism} ${saslMessage(o.mechanism, o.user, token, o.host, o.port)}`);
    let status = "";
    if (reply.status === 334) {
      // the refusal comes as a challenge; the client's dummy answer (RFC 7628 §3.2.3) ends the exchange
      status = describeChallenge((reply.text ?? "").trim());
      reply = await ctx.sendCommand(o.mechanism === "XOAUTH2" ? "" : "AQ==");
    }
    if (reply.status === 235) return;
    throw new Refused(reply, status);
  };
  return async (ctx: SmtpAuthContext): Promise<void> => {
    try {
      await withFreshToken(o.source, (token) => attempt(ctx, token), (err) => err instanceof Refused && err.reply.status === 535);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      const said = `${err.reply.response.trim()}${err.status ? ` (${err.status})` : ""}`;
      if (err.reply.status === 504) {
        throw new Error(`the SMTP server at ${o.host}:${o.port} does not offer AUTH ${o.mechanism} (${said}) — set OAUTH2_MECHANISM to one it offers (xoauth2 or oauthbearer)`);
      }
      throw new Error(`the SMTP server at ${o.host}:${o.port} refused a fresh OAuth2 access token for EMAIL_LOGIN=${o.user} with AUTH ${o.mechanism}: ${said} — check that OAUTH2_SCOPE includes sending mail (Microsoft: SMTP.Send, and SMTP AUTH enabled for the mailbox), then run \`bun run oauth-login\``);
    }
  };
}
