// The real mail stack (Postfix + Dovecot on loopback, started by scripts/mailstack.sh) as seen
// by tests: where it listens, whom to log in as, which CA to trust. See docs/mailstack.md.
//
// In CI (CI set) the stack is required: tests that need it FAIL when it is missing, they do not
// skip. Outside CI they skip with one line saying how to start it.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

export const MAILSTACK_SCRIPT = resolve(import.meta.dir, "../../scripts/mailstack.sh");
export const DEFAULT_MAILSTACK_ENV_FILE = "/tmp/mailstack/stack.env";
const START_HINT = "scripts/mailstack.sh install && scripts/mailstack.sh start /tmp/mailstack";

export interface MailstackEnv {
  /** The stack.env this was read from. */
  envFile: string;
  dir: string;
  domain: string;
  smtpHost: string;
  /** Submission: STARTTLS and AUTH required (nodemailer: secure false, requireTLS true). */
  smtpPort: number;
  imapHost: string;
  /** IMAP with STARTTLS. */
  imapPort: number;
  /** IMAP with implicit TLS. */
  imapsPort: number;
  lmtpPort: number;
  /** A name the server certificate covers; pass it as tls.servername with an IP host. */
  tlsServername: string;
  /** PEM of the private CA that signed the servers' certificate. */
  caFile: string;
  /** ca.pem, server.pem, server.key of an unrelated CA: a client must refuse that cert. */
  otherCaDir: string;
  admin: string;
  adminPassword: string;
  user: string;
  userPassword: string;
  /** POP3 with STLS / implicit TLS and a mailbox of its own; absent from stacks started before POP3 was added */
  pop3?: { port: number; tlsPort: number; user: string; password: string };
}

/** KEY=VALUE lines; blank lines and # comments ignored; optional surrounding quotes removed. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

function envFilePath(): string {
  return process.env.MAILSTACK_ENV_FILE || DEFAULT_MAILSTACK_ENV_FILE;
}

/**
 * The running stack's settings from MAILSTACK_ENV_FILE (default /tmp/mailstack/stack.env), or
 * null when there is no such file. `start` writes the file only once every port answers and
 * `stop` removes it, so its presence means "started". A file that is there but incomplete
 * throws: that is a broken setup, not a missing one.
 */
export function mailstackEnv(): MailstackEnv | null {
  const envFile = envFilePath();
  if (!existsSync(envFile)) return null;
  const v = parseEnvFile(readFileSync(envFile, "utf8"));
  const str = (key: string, fallback?: string): string => {
    const value = v[key] ?? fallback;
    if (value === undefined || value === "") throw new Error(`${envFile}: ${key} is missing`);
    return value;
  };
  const port = (key: string): number => {
    const n = Number(str(key));
    if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${envFile}: ${key}=${v[key]} is not a port`);
    return n;
  };
  const smtpHost = str("MAILSTACK_SMTP_HOST");
  return {
    envFile,
    dir: str("MAILSTACK_DIR"),
    domain: str("MAILSTACK_DOMAIN", "mailer.test"),
    smtpHost,
    smtpPort: port("MAILSTACK_SMTP_PORT"),
    imapHost: str("MAILSTACK_IMAP_HOST", smtpHost),
    imapPort: port("MAILSTACK_IMAP_PORT"),
    imapsPort: port("MAILSTACK_IMAPS_PORT"),
    lmtpPort: Number(v.MAILSTACK_LMTP_PORT ?? 0),
    tlsServername: str("MAILSTACK_TLS_SERVERNAME", "localhost"),
    caFile: str("MAILSTACK_CA_FILE"),
    otherCaDir: str("MAILSTACK_OTHER_CA_DIR"),
    admin: str("MAILSTACK_ADMIN"),
    adminPassword: str("MAILSTACK_ADMIN_PASSWORD"),
    user: str("MAILSTACK_USER"),
    userPassword: str("MAILSTACK_USER_PASSWORD"),
    ...(v.MAILSTACK_POP3_PORT
      ? { pop3: { port: port("MAILSTACK_POP3_PORT"), tlsPort: port("MAILSTACK_POP3S_PORT"), user: str("MAILSTACK_POP3_USER"), password: str("MAILSTACK_POP3_USER_PASSWORD") } }
      : {}),
  };
}

let skipNoticePrinted = false;

/**
 * The stack, when it runs. When it does not: in CI (CI set and not "false"/"0") throw — the real
 * mail stack is required there; elsewhere print one line and return null, so a test file can
 * `describe.skipIf(!stack)`.
 */
export function requireMailstack(): MailstackEnv | null {
  const stack = mailstackEnv();
  if (stack) return stack;
  const ci = process.env.CI;
  if (ci && ci !== "false" && ci !== "0") {
    throw new Error(
      `the real mail stack is required in CI but ${envFilePath()} does not exist: ` +
        `start it with \`${START_HINT}\` (or point MAILSTACK_ENV_FILE at DIR/stack.env)`,
    );
  }
  if (!skipNoticePrinted) {
    skipNoticePrinted = true;
    console.log(`skipping real-mail-stack tests: start it with \`${START_HINT}\``);
  }
  return null;
}

/**
 * Stops or starts only Postfix (for a test where SMTP goes away while IMAP stays up). Runs
 * synchronously; throws with the script's output if it fails. Needs root, like the script.
 */
export function mailstackCtl(cmd: "stop-smtp" | "start-smtp", env: MailstackEnv): string {
  const proc = Bun.spawnSync(["bash", MAILSTACK_SCRIPT, cmd, env.dir], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = proc.stdout.toString() + proc.stderr.toString();
  if (proc.exitCode !== 0) throw new Error(`mailstack.sh ${cmd} ${env.dir} failed (exit ${proc.exitCode}):\n${out}`);
  return out;
}
