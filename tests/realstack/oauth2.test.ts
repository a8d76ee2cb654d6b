// OAuth2 sign-in against real servers: Postfix submission (SMTP AUTH through Dovecot SASL) and
// Dovecot IMAP, whose oauth2 passdb asks a loopback token issuer whether each bearer token is
// active. Server and collector run as real processes with AUTH_METHOD=oauth2.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runEntry, startEntry, type RunResult } from "../helpers/env";
import { OAuthIssuer } from "../helpers/oauth-issuer";
import { canRunOAuth2Stack, startOAuth2Stack, type OAuth2Stack } from "../helpers/oauth2-stack";
import { allFileText, clearAdminInbox, collectorEnv, logEntries, marker, runClient, serverEnv, ticketOf, until, workDir } from "../helpers/realstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const enabled = canRunOAuth2Stack();
const cleanups: (() => unknown)[] = [];
/** everything any program printed, for the "no token anywhere" check */
const outputs: string[] = [];
const keep = (r: RunResult) => (outputs.push(r.stdout, r.stderr), r);

let issuer: OAuthIssuer;
let stack: OAuth2Stack;
let server: Awaited<ReturnType<typeof startEntry>>;
let serverPort = 0;
const serverDir = () => workDir(cleanups, "mailer-o2s-");

function oauthKeys(mechanism: "xoauth2" | "oauthbearer", refreshToken?: string): Record<string, string> {
  return {
    AUTH_METHOD: "oauth2", EMAIL_PASSWORD: "",
    OAUTH2_PROVIDER: "custom", OAUTH2_CLIENT_ID: issuer.clientId, OAUTH2_TOKEN_URL: `${issuer.url}/token`,
    OAUTH2_SCOPE: "mail", OAUTH2_MECHANISM: mechanism,
    ...(refreshToken ? { OAUTH2_REFRESH_TOKEN: refreshToken } : {}),
  };
}

const collectorWith = (dir: { logDir: string; stateDir: string }, mechanism: "xoauth2" | "oauthbearer", refreshToken?: string) =>
  collectorEnv(stack, dir, { ...oauthKeys(mechanism, refreshToken), PERIOD_CHECK: "1" });
const refreshes = () => issuer.calls["token:refresh_token"] ?? 0;

/** Runs `body` while `entry` runs; stops it and keeps its output whatever happens. */
async function whileRunning<T>(entry: string, env: Record<string, string>, ready: RegExp, body: (p: Awaited<ReturnType<typeof startEntry>>) => Promise<T>): Promise<T> {
  const p = await startEntry(entry, [], env, ready, 20_000);
  try {
    return await body(p);
  } finally {
    await p.stop();
    outputs.push(p.output());
  }
}

describe.skipIf(!enabled)("OAuth2 through real Postfix + Dovecot", () => {
  beforeAll(async () => {
    issuer = new OAuthIssuer({ rotate: true }).start();
    stack = startOAuth2Stack(issuer);
    await clearAdminInbox(stack);
    const dir = serverDir();
    const env = serverEnv(stack, dir, oauthKeys("xoauth2", issuer.mintRefreshToken(stack.admin)));
    serverPort = Number(env.SERVER_PORT);
    server = await startEntry("server.ts", ["--debug"], env, /listening on/, 20_000);
  }, 60_000);

  afterAll(async () => {
    if (server) outputs.push(server.output()), await server.stop();
    stack?.stop();
    issuer?.stop();
    for (const c of cleanups.splice(0)) c();
  }, 30_000);

  test("a ticket is sent with SMTP AUTH XOAUTH2 and collected with IMAP AUTHENTICATE OAUTHBEARER", async () => {
    const text = `oauth2 ${marker()}`;
    const ticket = ticketOf(keep(await runClient(serverPort, stack.user, text)));
    const dir = workDir(cleanups, "mailer-o2c-");
    const env = collectorWith(dir, "oauthbearer", issuer.mintRefreshToken(stack.admin));
    let run: RunResult = { code: -1, stdout: "", stderr: "" };
    // Postfix may still be handing the admin copy to Dovecot: check again until it is there.
    for (let i = 0; i < 30 && !logEntries(dir.logDir).some((e) => e.ticket === ticket); i++) {
      if (i) await Bun.sleep(200);
      run = keep(await runEntry("collector.ts", ["--once", "--debug"], env, undefined, 20_000));
      expect(run.code).toBe(0);
    }
    expect(logEntries(dir.logDir).find((e) => e.ticket === ticket)?.text).toBe(text);
    // The real servers did the checking, with the mechanisms configured.
    expect(readFileSync(join(stack.dir, "log/postfix.log"), "utf8")).toContain(`sasl_method=XOAUTH2, sasl_username=${stack.admin}`);
    expect(readFileSync(join(stack.dir, "log/dovecot.log"), "utf8")).toContain(`Login: user=<${stack.admin}>, method=OAUTHBEARER`);
    // --debug showed the exchanges (masked), so the leak check below looks at real SASL lines.
    expect(server.output()).toContain("AUTH XOAUTH2");
    expect(run.stderr).toContain("AUTHENTICATE OAUTHBEARER");
  }, 60_000);

  test("POP3 too: the admin's inbox read over POP3S with AUTH XOAUTH2, checked by Dovecot", async () => {
    const text = `oauth2 pop3 ${marker()}`;
    const ticket = ticketOf(keep(await runClient(serverPort, stack.user, text)));
    const dir = workDir(cleanups, "mailer-o2p-");
    const env = {
      ...collectorWith(dir, "xoauth2", issuer.mintRefreshToken(stack.admin)),
      MAIL_PROTOCOL: "pop3", POP3_HOST: stack.imapHost, POP3_PORT: String(stack.pop3!.tlsPort), POP3_SECURE: "tls",
    };
    for (let i = 0; i < 30 && !logEntries(dir.logDir).some((e) => e.ticket === ticket); i++) {
      if (i) await Bun.sleep(200);
      const run = keep(await runEntry("collector.ts", ["--once", "--all"], env, undefined, 20_000));
      expect(run.code).toBe(0);
    }
    expect(logEntries(dir.logDir).find((e) => e.ticket === ticket)?.text).toBe(text);
    expect(readFileSync(join(stack.dir, "log/dovecot.log"), "utf8")).toMatch(new RegExp(`pop3-login: Info: Login: user=<${stack.admin}>, method=XOAUTH2`));
  }, 60_000);

  test("an access token that stops working between two tickets is replaced without the person noticing", async () => {
    const dir = workDir(cleanups, "mailer-o2l-");
    await whileRunning("collector.ts", collectorWith(dir, "xoauth2", issuer.mintRefreshToken(stack.admin)), /Mailer collector watching/, async (collector) => {
      const first = ticketOf(keep(await runClient(serverPort, stack.user, `before ${marker()}`)));
      await until(() => logEntries(dir.logDir).some((e) => e.ticket === first), 20_000, "first ticket collected", collector.output);
      const before = refreshes();
      // The issuer forgets every access token; both programs must log in anew to notice.
      issuer.expireAccessTokens();
      stack.restartSmtp();
      stack.kick(stack.admin);
      const second = ticketOf(keep(await runClient(serverPort, stack.user, `after ${marker()}`)));
      await until(() => logEntries(dir.logDir).some((e) => e.ticket === second), 30_000, "second ticket collected", collector.output);
      // one refused-token refresh for SMTP, one for IMAP
      expect(refreshes() - before).toBeGreaterThanOrEqual(2);
      expect(collector.output()).not.toContain("Stopped");
      // Dovecot offers both mechanisms; imapflow alone would always take OAUTHBEARER
      expect(readFileSync(join(stack.dir, "log/dovecot.log"), "utf8")).toContain(`Login: user=<${stack.admin}>, method=XOAUTH2`);
    });
  }, 90_000);

  test("a rotated refresh token is stored (0600) and survives a restart", async () => {
    const dir = workDir(cleanups, "mailer-o2r-");
    const first = issuer.mintRefreshToken(stack.admin);
    const env = collectorWith(dir, "oauthbearer", first);
    expect(keep(await runEntry("collector.ts", ["--once"], env)).code).toBe(0);
    const file = join(dir.stateDir, "oauth2-token.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, "utf8"));
    expect(stored.refreshToken).not.toBe(first); // rotated; the issuer has revoked `first`
    // Same configuration (OAUTH2_REFRESH_TOKEN is still the dead first token): the stored one wins.
    expect(keep(await runEntry("collector.ts", ["--once"], env)).code).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8")).refreshToken).not.toBe(stored.refreshToken);
  }, 60_000);

  test("a token the servers refuse even fresh (issued to another mailbox) ends in one clear reason, on both sides", async () => {
    const dir = workDir(cleanups, "mailer-o2m-");
    const stranger = issuer.mintRefreshToken(stack.user); // active, but for user@, not admin@
    const run = keep(await runEntry("collector.ts", [], collectorWith(dir, "oauthbearer", stranger), undefined, 20_000));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`Stopped: the IMAP server at ${stack.imapHost}:${stack.imapsPort} refused a fresh OAuth2 access token for EMAIL_LOGIN=${stack.admin} with AUTHENTICATE OAUTHBEARER`);
    const sdir = serverDir();
    const env = serverEnv(stack, sdir, oauthKeys("xoauth2", issuer.mintRefreshToken(stack.user)));
    await whileRunning("server.ts", env, /listening on/, async (srv) => {
      const reply = keep(await runClient(Number(env.SERVER_PORT), stack.user, `mismatch ${marker()}`));
      expect(reply.code).toBe(1);
      // the person is told the mailbox is unavailable; the precise reason is the operator's, in the server's log
      expect(reply.stderr + reply.stdout).toContain("the support mailbox is not available right now");
      expect(reply.stderr + reply.stdout).not.toContain("OAuth2");
      expect(srv.output()).toContain("refused a fresh OAuth2 access token");
    });
  }, 60_000);

  test("a revoked sign-in ends the collector with exit 2 and says to run bun run oauth-login", async () => {
    const dir = workDir(cleanups, "mailer-o2v-");
    const env = collectorWith(dir, "xoauth2", issuer.mintRefreshToken(stack.admin));
    issuer.revokeRefreshTokens();
    const run = keep(await runEntry("collector.ts", [], env, undefined, 20_000));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("bun run oauth-login");
    expect(run.stderr).toContain("invalid_grant");
    // the server refuses to start on it the same way, rather than fail every ticket
    const gone = issuer.mintRefreshToken(stack.admin).replace("rt_", "rt_gone_");
    issuer.issued.add(gone); // a configured secret too: the leak check below looks for it
    const srv = keep(await runEntry("server.ts", [], serverEnv(stack, serverDir(), oauthKeys("xoauth2", gone))));
    expect(srv.code).toBe(2);
    expect(srv.stderr).toContain("server: cannot start: the OAuth2 provider refused the refresh token");
    expect(srv.stderr).toContain("bun run oauth-login");
  }, 30_000);

  test("--check with OAuth2: server and collector say which mechanism was used and that the token was accepted", async () => {
    const srv = keep(await runEntry("server.ts", ["--check"], serverEnv(stack, serverDir(), oauthKeys("xoauth2", issuer.mintRefreshToken(stack.admin)))));
    expect(srv.code).toBe(0);
    expect(srv.stdout).toContain(`✓ AUTH XOAUTH2: the OAuth2 access token was accepted for EMAIL_LOGIN=${stack.admin}`);
    const col = keep(await runEntry("collector.ts", ["--check"], collectorWith(workDir(cleanups, "mailer-o2k-"), "oauthbearer", issuer.mintRefreshToken(stack.admin))));
    expect(col.code).toBe(0);
    expect(col.stdout).toContain("with an OAuth2 access token (OAUTHBEARER)");
    const gone = issuer.mintRefreshToken(stack.admin).replace("rt_", "rt_gone_");
    issuer.issued.add(gone); // a configured secret too: the leak check looks for it
    const refused = keep(await runEntry("collector.ts", ["--check"], collectorWith(workDir(cleanups, "mailer-o2k-"), "xoauth2", gone)));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("oauth-login");
  }, 60_000);

  test("no token, in any form, in any output or log", () => {
    outputs.push(server.output());
    const text = outputs.join("\n") + allFileText(join(stack.dir, "log"));
    expect(issuer.issued.size).toBeGreaterThan(5);
    for (const token of issuer.issued) expect(text.includes(token)).toBe(false);
    // no base64 SASL message either: decode every long base64 run and look for the bearer field
    for (const run of text.match(/[A-Za-z0-9+/]{20,}={0,2}/g) ?? []) {
      expect(Buffer.from(run, "base64").toString("latin1")).not.toContain("Bearer");
    }
  });
});
