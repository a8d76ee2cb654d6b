// The embedded sandbox: the SMTP side and the IMAP side wired together, so that mail the server
// sends to the admin lands in the inbox the collector reads. Everything on loopback, in memory.
import net from "node:net";
import { usesImplicitTls, type Config } from "../shared/config";
import { MailerError } from "../shared/errors";
import { isLoopback } from "../shared/net";
import { BurstSummary, type BurstOptions } from "./bursts";
import { startSandboxImap, type SandboxImap } from "./imap";
import { startSandboxPop3, type SandboxPop3 } from "./pop3";
import { PortInUseError, startSandboxSmtp, type SandboxSmtp } from "./smtp";
import { MailStore } from "./store";
import { startSandboxWeb, type SandboxWeb } from "./web";

export interface SandboxLog {
  /** mail for someone other than the admin, one line */
  onOtherMail(line: string): void;
  /** mail delivered to the admin's inbox, one line (optional) */
  onAdminMail?(line: string): void;
}

export interface Sandbox {
  smtpPort: number;
  imapPort: number;
  uidValidity: number;
  imap: SandboxImap;
  /** with MAIL_PROTOCOL=pop3: the same inbox over POP3 on POP3_PORT */
  pop3: SandboxPop3 | null;
  /** every mail received, for the web inbox and its API */
  store: MailStore;
  /** the web inbox, when started (opts.webPort) */
  web: SandboxWeb | null;
  close(): Promise<void>;
}

/** A port a configuration key names cannot be used (exit 2); the message says what to do. */
export class SandboxPortError extends MailerError {
  constructor(readonly key: string, readonly port: number, readonly code: string) {
    super("config", portMessage(key, port, code));
  }
}

export function portMessage(key: string, port: number, code: string): string {
  if (code === "EADDRINUSE") {
    return `${key} ${port} is already in use — stop whatever listens there or change ${key} in .env.local`;
  }
  if (code === "EADDRNOTAVAIL") {
    const hostKey = key.replace(/_PORT$/, "_HOST");
    return `${hostKey} is not an address of this machine, so nothing can listen on it for ${key} ${port} — the sandbox runs on loopback: set ${hostKey}=127.0.0.1`;
  }
  if (code === "EACCES") return `${key} ${port} needs privileges to listen on — use a port above 1023 in .env.local`;
  return `cannot listen on ${key} ${port} (${code}) — change ${key} in .env.local`;
}

/**
 * Why this configuration cannot run against the sandbox (empty when it can). The sandbox
 * speaks plain SMTP/IMAP on loopback only; a configuration for a real account (e.g. from
 * .env.local) would otherwise make the demo listen on 465 or silently talk past the servers.
 */
export function sandboxConfigProblems(config: Config): string[] {
  const problems: string[] = [];
  const endpoints = [["SMTP", config.smtp, 465], ["IMAP", config.imap, 993], ["POP3", config.pop3, 995]] as const;
  for (const [name, endpoint, implicitPort] of endpoints.filter((e) => e[0] !== "POP3" || config.mailProtocol === "pop3")) {
    if (!isLoopback(endpoint.host)) {
      problems.push(`${name}_HOST=${endpoint.host} is not a loopback address; the sandbox listens on 127.0.0.1 only — set ${name}_HOST=127.0.0.1 (is .env.local pointing at a real mail account?)`);
    }
    if (endpoint.security !== "auto") {
      problems.push(`${name}_SECURE=${endpoint.security}, but the sandbox speaks plain ${name} on loopback (no TLS) — leave ${name}_SECURE unset`);
    } else if (usesImplicitTls(endpoint, implicitPort)) {
      problems.push(`${name}_PORT=${endpoint.port} means implicit TLS, which the sandbox does not speak — use another port (.env has ${{ SMTP: 2525, IMAP: 1143, POP3: 1110 }[name]})`);
    }
  }
  if (config.smtp.port === config.imap.port && config.smtp.port !== 0) {
    problems.push(`SMTP_PORT and IMAP_PORT are both ${config.smtp.port} — give them different ports`);
  }
  return problems;
}

export interface PortSpec { key: string; host: string; port: number }

/** Checks each port by binding it briefly; returns one message per port that is not usable. */
export async function checkPorts(specs: PortSpec[]): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Map<number, string>();
  for (const spec of specs) {
    const other = seen.get(spec.port);
    if (other) {
      problems.push(`${other} and ${spec.key} are both ${spec.port} — give them different ports in .env.local`);
      continue;
    }
    seen.set(spec.port, spec.key);
    const code = await probePort(spec.host, spec.port);
    if (code) problems.push(portMessage(spec.key, spec.port, code));
  }
  return problems;
}

/** null when host:port can be listened on right now, else the error code. */
export function probePort(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    probe.listen({ port, host }, () => probe.close(() => resolve(null)));
  });
}

/**
 * Starts IMAP (the admin's inbox, login EMAIL_LOGIN / EMAIL_PASSWORD, fresh UIDVALIDITY) and
 * SMTP (same credentials; admin mail → that inbox). Ports come from the configuration; pass
 * 0 in it for free ports. Fails with SandboxPortError naming the key when a port is unusable,
 * leaving nothing running.
 */
export async function startSandbox(config: Config, given: SandboxLog, opts: { webPort?: number; bursts?: BurstOptions } = {}): Promise<Sandbox> {
  const { log, flush } = summarised(given, opts.bursts);
  const store = new MailStore();
  let imap: SandboxImap;
  try {
    imap = await startSandboxImap({
      host: config.imap.host,
      port: config.imap.port,
      users: { [config.emailLogin]: config.emailPassword },
      idle: true,
    });
  } catch (err) {
    // a listen error (EADDRINUSE, EACCES…) is the port's; anything else is not (MODULE_NOT_FOUND was once shown as a port problem)
    const code = (err as NodeJS.ErrnoException).code;
    if (code && /^E[A-Z]+$/.test(code)) throw new SandboxPortError("IMAP_PORT", config.imap.port, code);
    throw err;
  }
  let smtp: SandboxSmtp;
  try {
    smtp = await startSandboxSmtp({
      host: config.smtp.host,
      port: config.smtp.port,
      login: config.emailLogin,
      password: config.emailPassword,
      adminEmail: config.adminEmail,
      deliverToAdmin: (raw) => imap.append(raw),
      onOtherMail: log.onOtherMail,
      onAdminMail: log.onAdminMail,
      onMessage: (raw, envelope) => store.add(raw, envelope), // never rejects
    });
  } catch (err) {
    await imap.close();
    if (err instanceof PortInUseError) throw new SandboxPortError("SMTP_PORT", config.smtp.port, err.code);
    throw err;
  }
  const pop3 = await startPop3(config, imap, smtp);
  let web: SandboxWeb | null = null;
  try {
    if (opts.webPort !== undefined) web = startSandboxWeb(store, { port: opts.webPort });
  } catch (err) {
    await Promise.all([smtp.close(), imap.close(), pop3?.close()]);
    throw new SandboxPortError("SANDBOX_WEB_PORT", opts.webPort!, (err as NodeJS.ErrnoException).code ?? "EADDRINUSE");
  }
  return {
    smtpPort: smtp.port,
    imapPort: imap.port,
    uidValidity: imap.uidValidity,
    imap,
    pop3,
    store,
    web,
    async close() {
      await Promise.all([smtp.close(), imap.close(), pop3?.close(), web?.stop()]);
      flush();
    },
  };
}

/** The mail lines through a BurstSummary each (one shared when both go to the same place). */
function summarised(log: SandboxLog, options?: BurstOptions): { log: SandboxLog; flush: () => void } {
  const bursts = new Map<(line: string) => void, BurstSummary>();
  const wrap = (say: (line: string) => void) => {
    let b = bursts.get(say);
    if (!b) bursts.set(say, (b = new BurstSummary(say, options)));
    const summary = b;
    return (line: string) => summary.line(line);
  };
  return {
    log: { onOtherMail: wrap(log.onOtherMail), ...(log.onAdminMail ? { onAdminMail: wrap(log.onAdminMail) } : {}) },
    flush: () => {
      for (const b of bursts.values()) b.flush();
    },
  };
}

/** With MAIL_PROTOCOL=pop3: the same inbox over POP3 on POP3_PORT. UIDL is UIDVALIDITY.UID —
 *  unique across sandbox starts, so a UID map from an earlier run never hides new mail. */
async function startPop3(config: Config, imap: SandboxImap, smtp: SandboxSmtp): Promise<SandboxPop3 | null> {
  if (config.mailProtocol !== "pop3") return null;
  const list = () => imap.sources().map((m) => ({ id: `${imap.uidValidity}.${m.uid}`, size: m.size, read: m.read }));
  return await startSandboxPop3({ host: config.pop3.host, port: config.pop3.port, users: { [config.emailLogin]: config.emailPassword }, list }).catch(async (err) => {
    await Promise.all([smtp.close(), imap.close()]);
    const code = (err as NodeJS.ErrnoException).code;
    throw code ? new SandboxPortError("POP3_PORT", config.pop3.port, code) : err;
  });
}

/** What a running sandbox offers, for the console: ports, login (never the password), where mail goes. */
export function describeSandbox(config: Config, sandbox: Sandbox): string[] {
  return [
    `SMTP  ${config.smtp.host}:${sandbox.smtpPort}  (AUTH PLAIN/LOGIN, no TLS — loopback only)`,
    `IMAP  ${config.imap.host}:${sandbox.imapPort}  (IDLE, UIDVALIDITY ${sandbox.uidValidity}, in memory)`,
    ...(sandbox.pop3 ? [`POP3  ${sandbox.pop3.host}:${sandbox.pop3.port}  (the same inbox, read-only, no TLS — loopback only)`] : []),
    `login ${config.emailLogin}  (password: EMAIL_PASSWORD from .env)`,
    `mail to ${config.adminEmail} lands in its IMAP inbox; mail to anyone else is shown here, nothing leaves this machine`,
    ...(sandbox.web ? [`web inbox ${sandbox.web.url}  (every mail caught; JSON at ${sandbox.web.url}api/messages)`] : []),
  ];
}
