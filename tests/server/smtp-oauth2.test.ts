// The server's SMTP sender with AUTH_METHOD=oauth2 against smtp-server (which speaks XOAUTH2) and
// the loopback token issuer: a refused token is replaced once; refused twice, a revoked sign-in,
// or a mechanism the server lacks each give one precise reason; --debug shows no token.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SMTPServer } from "smtp-server";
import { NodemailerSender } from "../../lib/server/smtp";
import { OAuth2Session } from "../../lib/shared/oauth2/session";
import type { OAuth2Settings } from "../../lib/shared/oauth2/settings";
import { makeRedactor } from "../../lib/shared/redact";
import { tempDir } from "../helpers/env";
import { OAuthIssuer } from "../helpers/oauth-issuer";

const LOGIN = "admin@mailer.test";
let issuer: OAuthIssuer;
let smtp: SMTPServer;
let port = 0;
/** tokens the SMTP server refuses although the issuer still calls them active */
const refuse = new Set<string>();
let refuseAll = false;
const seen: string[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  issuer = new OAuthIssuer({ rotate: true }).start();
  smtp = new SMTPServer({
    logger: false, closeTimeout: 200, disabledCommands: ["STARTTLS"], allowInsecureAuth: true, authMethods: ["XOAUTH2"],
    onAuth(auth, _session, cb) {
      seen.push(auth.accessToken ?? "");
      const active = issuer.issued.has(auth.accessToken ?? "") && !refuse.has(auth.accessToken ?? "") && !refuseAll;
      if (auth.method === "XOAUTH2" && auth.username === LOGIN && active) return cb(null, { user: LOGIN });
      cb(null, { data: { status: "invalid_token", schemes: "bearer", scope: "mail" } });
    },
    onData(stream, _session, cb) {
      stream.resume();
      stream.on("end", () => cb());
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  port = (smtp.server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  issuer.stop();
  for (const c of cleanups) c();
});

function sender(o: { refreshToken?: string; mechanism?: "XOAUTH2" | "OAUTHBEARER" } = {}) {
  const settings: OAuth2Settings = {
    provider: "custom", clientId: issuer.clientId, clientSecret: null, tenant: "", tokenUrl: `${issuer.url}/token`, deviceUrl: "", authorizeUrl: "",
    scope: "mail", mechanism: o.mechanism ?? "XOAUTH2", flow: "device", authorizeParams: {}, refreshToken: o.refreshToken ?? issuer.mintRefreshToken(LOGIN),
  };
  const dir = tempDir("mailer-smtp-o2-");
  cleanups.push(dir.cleanup);
  const session = new OAuth2Session(settings, LOGIN, dir.path);
  const redact = makeRedactor(LOGIN, "", session.secrets);
  const debug: string[] = [];
  const s = new NodemailerSender({
    smtp: { host: "127.0.0.1", port, security: "auto" }, login: LOGIN, password: "", poolSize: 1, timeoutSec: 5, redact,
    debugLog: (line) => debug.push(line), oauth2: session,
  });
  cleanups.push(() => void s.close());
  return { s, session, debug };
}

const mail = { from: LOGIN, to: "user@mailer.test", subject: "[Ticket #10001] Mailer", text: "hello" };

describe("SMTP AUTH with OAuth2 (nodemailer customAuth)", () => {
  test("XOAUTH2 with the access token; the outcome is recorded for --check", async () => {
    const { s, session, debug } = sender();
    expect((await s.send(mail)).ok).toBe(true);
    expect(session.outcomeLines()).toEqual(["SMTP AUTH XOAUTH2: token accepted"]);
    expect(debug.join("\n")).toContain("AUTH XOAUTH2");
    for (const token of issuer.issued) expect(debug.join("\n")).not.toContain(token);
  });

  test("a token the server refuses is replaced by a fresh one, once, without a failed send", async () => {
    const { s, session } = sender();
    const stale = await session.source.accessToken();
    refuse.add(stale);
    const before = session.source.refreshes;
    expect((await s.send(mail)).ok).toBe(true);
    expect(session.source.refreshes).toBe(before + 1);
    expect(seen.slice(-2)[0]).toBe(stale);
  });

  test("refused twice: one reason naming the mechanism, the server's answer and what to check", async () => {
    const { s, session } = sender();
    refuseAll = true;
    try {
      const r = await s.send(mail);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.kind).toBe("auth");
      expect(r.error).toContain(`refused a fresh OAuth2 access token for EMAIL_LOGIN=${LOGIN} with AUTH XOAUTH2`);
      expect(r.error).toContain("(invalid_token)");
      expect(r.error).toContain("OAUTH2_SCOPE");
      expect(session.outcomeLines()[0]).toStartWith("SMTP AUTH XOAUTH2: refused — ");
    } finally {
      refuseAll = false;
    }
  });

  test("a revoked sign-in: the reason says to run bun run oauth-login", async () => {
    const { s } = sender({ refreshToken: "rt_revoked_long_ago" });
    const r = await s.send(mail);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.kind).toBe("auth");
      expect(r.error).toContain("invalid_grant");
      expect(r.error).toContain("bun run oauth-login");
    }
  });

  test("a mechanism the server does not offer is named, with the key to change", async () => {
    const { s } = sender({ mechanism: "OAUTHBEARER" });
    const r = await s.send(mail);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("does not offer AUTH OAUTHBEARER");
    if (!r.ok) expect(r.error).toContain("OAUTH2_MECHANISM");
  });
});
