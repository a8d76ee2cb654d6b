// The whole system on one machine, for `bun run demo` and `bun run dev`: the sandbox in this
// process, the server and the collector as child processes of their real entry points.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { loadConfig, type Config } from "../shared/config";
import { isMailerError, MailerError, messageOf } from "../shared/errors";
import { checkPorts, sandboxConfigProblems, startSandbox, type Sandbox } from "./index";
import { Child, printTails } from "./processes";

export const REPO = resolve(import.meta.dir, "../..");

/** How long the server may take to say "listening on"; generous on purpose (bench/FINDINGS.md has the measured start). */
const SERVER_READY_MS = 10_000;

/**
 * The configuration every part needs, checked for all three roles at once, plus what the
 * sandbox cannot serve. Problems come back as lines; nothing is started.
 */
export function stackConfig(env: Record<string, string | undefined>): { config: Config } | { problems: string[] } {
  const problems: string[] = [];
  let config: Config | undefined;
  for (const role of ["sandbox", "server", "collector", "web"] as const) {
    const result = loadConfig(env, role);
    if (!result.ok) {
      for (const e of result.errors) if (!problems.includes(e)) problems.push(e);
    } else config ??= result.config;
  }
  if (config && problems.length === 0) problems.push(...sandboxConfigProblems(config));
  return problems.length || !config ? { problems } : { config };
}

/** stackConfig, or a MailerError "config" under `heading` ("Cannot run the demo") listing every problem. */
export function stackConfigOrThrow(env: Record<string, string | undefined>, heading: string): Config {
  const checked = stackConfig(env);
  if ("config" in checked) return checked.config;
  const n = checked.problems.length;
  throw new MailerError("config", [`${heading} — the configuration has ${n} problem${n > 1 ? "s" : ""}:`, ...checked.problems.map((p) => `  - ${p}`)].join("\n"));
}

/** A MailerError "config" from startStack, worded for the console: each line a problem, nothing started. */
export function nothingStarted(err: MailerError, heading: string): MailerError {
  return new MailerError("config", `${heading}:\n${err.message.split("\n").map((l) => `  - ${l}`).join("\n")}\nNothing was started.`);
}

export interface Stack {
  config: Config;
  sandbox: Sandbox;
  server: Child;
  collector: Child;
  web: Child;
  children: Child[];
  /** Resolves with the first child that exits (a crash, while the stack should be running). */
  firstExit: Promise<Child>;
  stop(): Promise<void>;
}

/**
 * Something failed after parts were started. Not a MailerError on purpose: the caller does not
 * just print it, it stops what runs and prints each child's last lines (reportFailure).
 * Failures with nothing started are MailerError "config" (exit 2).
 */
export class StackError extends Error {
  constructor(message: string, readonly children: Child[] = []) {
    super(message);
  }
}

export interface StackOptions {
  env: Record<string, string | undefined>;
  /** one console line, e.g. `[sandbox] …`; children's output goes here too */
  print: (line: string) => void;
  /** show the children's output as it comes (dev: yes; demo: yes) */
  showChildOutput?: boolean;
}

/**
 * Checks every port first (so a taken port leaves nothing running), then starts the sandbox,
 * the server and the collector, and waits until the server listens. A port in use or a sandbox
 * that will not start is a MailerError "config" with nothing running; a later failure stops
 * everything started again and a StackError carries the message and the children (for tails).
 */
export async function startStack(config: Config, opts: StackOptions): Promise<Stack> {
  const taken = await checkPorts([
    { key: "SMTP_PORT", host: config.smtp.host, port: config.smtp.port },
    { key: "IMAP_PORT", host: config.imap.host, port: config.imap.port },
    { key: "SERVER_PORT", host: config.serverHost, port: config.serverPort },
    ...(config.mailProtocol === "pop3" ? [{ key: "POP3_PORT", host: config.pop3.host, port: config.pop3.port }] : []),
    { key: "SANDBOX_WEB_PORT", host: "127.0.0.1", port: config.sandboxWebPort },
    { key: "WEB_PORT", host: config.webHost, port: config.webPort },
  ]);
  if (taken.length) throw new MailerError("config", taken.join("\n"));

  const say = (line: string) => opts.print(`[sandbox] ${line}`);
  const sandbox = await startSandbox(config, { onOtherMail: say, onAdminMail: say }, { webPort: config.sandboxWebPort }).catch((err: unknown) => {
    throw isMailerError(err) ? err : new MailerError("config", messageOf(err), { cause: err });
  });
  const pop3 = sandbox.pop3 ? `, POP3 ${sandbox.pop3.host}:${sandbox.pop3.port}` : "";
  say(`SMTP ${config.smtp.host}:${sandbox.smtpPort}, IMAP ${config.imap.host}:${sandbox.imapPort}${pop3} (login ${config.emailLogin}, in memory)`);
  say(`web inbox: ${sandbox.web!.url}`);

  // The children get this process's environment (.env, .env.local and overrides already
  // merged by Bun) and do not load .env again, so all three parts see one configuration.
  const spawn = (name: string, entry: string) =>
    new Child(name, [process.execPath, "--no-env-file", entry], {
      cwd: REPO,
      // One secret for server and web, so the form's per-person rate limit binds (docs/web.md "Web pages").
      env: { ...opts.env, WEB_FRONTEND_SECRET: opts.env.WEB_FRONTEND_SECRET || frontendSecret },
      print: opts.showChildOutput === false ? undefined : opts.print,
    });
  const frontendSecret = randomBytes(32).toString("hex");
  const server = spawn("server", "server.ts");
  const collector = spawn("collector", "collector.ts");
  const web = spawn("web", "web.ts");
  const children = [server, collector, web];
  let stopped: Promise<void> | null = null;
  const stop = () => (stopped ??= Promise.all(children.map((c) => c.stop())).then(() => sandbox.close()));

  try {
    await server.waitFor(/listening on/i, SERVER_READY_MS, `"listening on"`);
    // POP3 has no unread flag: mail that is there before the collector's first look counts as old
    if (config.mailProtocol === "pop3") await collector.waitFor(/Mailer collector watching/, SERVER_READY_MS, `"Mailer collector watching"`);
    await web.waitFor(/dashboard on/i, SERVER_READY_MS, `"dashboard on"`);
  } catch (err) {
    await stop();
    throw new StackError((err as Error).message, children);
  }
  const firstExit = Promise.race(children.map((c) => c.exited.then(() => c)));
  return { config, sandbox, server, collector, web, children, firstExit, stop };
}

export function reportFailure(err: unknown, print: (line: string) => void): void {
  print(`✗ ${messageOf(err)}`);
  if (err instanceof StackError && err.children.length) printTails(err.children, print);
}
