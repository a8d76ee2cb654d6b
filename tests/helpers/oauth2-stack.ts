// A Postfix + Dovecot stack of the test's own in OAuth2 mode (scripts/mailstack.sh start DIR
// --oauth2 URL), validating bearer tokens against a loopback OAuthIssuer. Its own DIR and free
// ports: the shared password stack (/tmp/mailstack, CI's) is never touched. Needs root and the
// Debian packages; in CI their absence fails the tests, elsewhere they skip with one line.
import { existsSync } from "node:fs";
import { freePort } from "./env";
import { MAILSTACK_SCRIPT, mailstackEnv, type MailstackEnv } from "./mailstack";
import type { OAuthIssuer } from "./oauth-issuer";

const INSTALL_HINT = "run as root after `scripts/mailstack.sh install`";

/** Why the OAuth2 stack cannot run here, or null when it can. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return "not running as root";
  for (const bin of ["/usr/sbin/postfix", "/usr/sbin/dovecot"]) if (!existsSync(bin)) return `${bin} is not installed`;
  return null;
}

/** true when the stack can run; throws in CI when it cannot; otherwise prints one line. */
export function canRunOAuth2Stack(): boolean {
  const why = missing();
  if (!why) return true;
  const ci = process.env.CI;
  if (ci && ci !== "false" && ci !== "0") throw new Error(`the OAuth2 mail stack is required in CI but ${why}: ${INSTALL_HINT}`);
  console.log(`skipping OAuth2 real-stack tests: ${why} (${INSTALL_HINT})`);
  return false;
}

function run(args: string[], env: Record<string, string> = {}): string {
  const p = Bun.spawnSync(["bash", MAILSTACK_SCRIPT, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const out = p.stdout.toString() + p.stderr.toString();
  if (p.exitCode !== 0) throw new Error(`mailstack.sh ${args.join(" ")} failed (exit ${p.exitCode}):\n${out}`);
  return out;
}

export interface OAuth2Stack extends MailstackEnv {
  /** drops every IMAP session of `user` (the collector must reconnect and log in again) */
  kick(user: string): void;
  /** Postfix stop + start: pooled SMTP connections are gone, the next send logs in again */
  restartSmtp(): void;
  stop(): void;
}

export function startOAuth2Stack(issuer: OAuthIssuer): OAuth2Stack {
  const dir = `/tmp/mailer-oauth2-${process.pid}`;
  const ports = { MAILSTACK_SMTP_PORT: freePort(), MAILSTACK_IMAP_PORT: freePort(), MAILSTACK_IMAPS_PORT: freePort(), MAILSTACK_LMTP_PORT: freePort(), MAILSTACK_POP3_PORT: freePort(), MAILSTACK_POP3S_PORT: freePort() };
  run(["start", dir, "--oauth2", `${issuer.url}/introspect`], Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])));
  const saved = process.env.MAILSTACK_ENV_FILE;
  process.env.MAILSTACK_ENV_FILE = `${dir}/stack.env`;
  const env = mailstackEnv()!;
  if (saved === undefined) delete process.env.MAILSTACK_ENV_FILE;
  else process.env.MAILSTACK_ENV_FILE = saved;
  return {
    ...env,
    kick: (user) => void Bun.spawnSync(["doveadm", "-c", `${dir}/dovecot/dovecot.conf`, "kick", user], { stdout: "ignore", stderr: "ignore" }),
    restartSmtp: () => {
      run(["stop-smtp", dir]);
      run(["start-smtp", dir]);
    },
    stop: () => {
      run(["stop", dir]);
      Bun.spawnSync(["rm", "-rf", dir]);
    },
  };
}
