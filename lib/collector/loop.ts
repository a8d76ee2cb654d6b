// The collector's life: connect, check, wait (IDLE or PERIOD_CHECK), check again; reconnect
// with capped exponential backoff when the connection drops, reporting an outage once when it
// starts and once when it ends; stop for good on wrong credentials or an untrusted
// certificate (retrying cannot fix those, and hammering a server with a bad password gets
// accounts locked).
import { EXIT, MailerError, messageOf } from "../shared/errors";
import type { Say } from "../shared/log";
import { CERTIFICATE_HINT, isCertificateError } from "../shared/tls";
import type { CheckResult, Collector } from "./collector";
import type { Mailbox, MailboxInfo } from "./imap-mailbox";
import { counted } from "../shared/words";
import { sleepUnless } from "../shared/sleep";

/** What the messages call the protocol, its keys and its usual ports. */
export type Protocol = { name: "IMAP" | "POP3"; tlsPort: number; plainPort: number };
export const IMAP: Protocol = { name: "IMAP", tlsPort: 993, plainPort: 143 };

export interface LoopOptions {
  connect: () => Promise<Mailbox>;
  collector: Collector;
  periodMs: number;
  once: boolean;
  /** aborted by a stop signal: the batch in hand is finished, then the loop ends with 0 */
  stop: AbortSignal;
  out: Say;
  err: Say;
  /** --once: the check's result (default: the summary sentence on `out`) */
  report?: (result: CheckResult) => void;
  /** the failure the loop ends with (default: its message on `err`) */
  onFatal?: (err: MailerError) => void;
  /** what the messages call things */
  where: { login: string; host: string; port: number; mailbox: string; protocol?: Protocol };
  backoff?: { initialMs: number; maxMs: number };
  /** the first successful open (for the readiness line) */
  onReady?: (info: MailboxInfo) => void;
}

/** Why a connection or a check failed; all but "transient" end the collector. */
export type FailureCause = "auth" | "certificate" | "starttls" | "tlsmode" | "local" | "transient";

export function errorKind(err: unknown): FailureCause {
  const e = err as { authenticationFailed?: boolean; tlsFailed?: boolean; code?: string; message?: string } | undefined;
  // the collector's own MailerErrors (logs, checkpoint, parser): this machine, not the server
  if (err instanceof MailerError) return "local";
  if (e?.authenticationFailed) return "auth";
  if (isCertificateError(err)) return "certificate";
  if (e?.tlsFailed || /does not support STARTTLS/i.test(e?.message ?? "")) return "starttls";
  // implicit TLS spoken to a plain-text port: a setting to change, not an outage to wait out
  if (/WRONG_VERSION_NUMBER|wrong version number/i.test(`${e?.code ?? ""} ${e?.message ?? ""}`)) return "tlsmode";
  return "transient";
}

/** What to check for a connection failure; a plain connection to an implicit-TLS port never gets a greeting. */
function advice(err: unknown, { name: p, tlsPort }: Protocol = IMAP): string {
  if ((err as { code?: string } | undefined)?.code === "GREETING_TIMEOUT") {
    return `no ${p} greeting came: if ${p}_PORT is an implicit-TLS port (${tlsPort}, or the server's own), set ${p}_SECURE=tls; otherwise check ${p}_HOST/${p}_PORT`;
  }
  return `is ${p}_HOST/${p}_PORT right and the server up?`;
}

type Where = LoopOptions["where"] & { server: string; proto: Protocol };

/**
 * What each cause ends with: the message, and through the MailerError kind the exit code
 * (ERROR_EXIT). "transient" is retried by the watcher; only --once ends with it.
 */
const FAILURES: Record<FailureCause, (err: unknown, w: Where) => MailerError> = {
  auth: (err, w) =>
    new MailerError(
      "auth",
      `${w.proto.name} login to ${w.server} failed for EMAIL_LOGIN=${w.login}: the server said "${describeError(err)}". ` +
        `Check EMAIL_PASSWORD (and EMAIL_LOGIN) in .env.local; the collector stops rather than retry a wrong password.`,
    ),
  certificate: (err, w) => new MailerError("tls", `The TLS certificate of the ${w.proto.name} server ${w.server} could not be verified (${describeError(err)}) — ${CERTIFICATE_HINT}.`),
  starttls: (err, w) =>
    new MailerError(
      "tls",
      `${w.proto.name}_SECURE=starttls, but ${w.server} does not offer STARTTLS (${describeError(err)}) — use ${w.proto.name}_SECURE=tls with the server's TLS port (usually ${w.proto.tlsPort}), or unset ${w.proto.name}_SECURE.`,
    ),
  tlsmode: (err, w) =>
    new MailerError(
      "tls",
      `${w.server} does not speak implicit TLS (${describeError(err)}) — it is probably a STARTTLS port (usually ${w.proto.plainPort}): ` +
        `set ${w.proto.name}_SECURE=starttls there, or use the server's implicit-TLS port (usually ${w.proto.tlsPort}) with ${w.proto.name}_SECURE=tls.`,
    ),
  // keeps its own kind ("local", "parser", "state"), so its own exit code
  local: (err) => new MailerError(err instanceof MailerError ? err.kind : "local", `Stopped: ${messageOf(err)}`),
  transient: (err, w) => new MailerError("unreachable", `Cannot check the ${w.proto.name} server ${w.server}: ${describeError(err)} — ${advice(err, w.proto)}`),
};

/** The MailerError a failure ends the loop with, or null when it is retried. */
export function fatalFailure(err: unknown, where: LoopOptions["where"], once: boolean): MailerError | null {
  const cause = errorKind(err);
  if (cause === "transient" && !once) return null;
  return FAILURES[cause](err, { ...where, server: `${where.host}:${where.port}`, proto: where.protocol ?? IMAP });
}

export function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; responseText?: string } | undefined;
  const text = e?.responseText || e?.message || String(err);
  return e?.code && !text.includes(e.code) ? `${e.code}: ${text}` : text;
}

/** Runs until stopped (or one check with `once`); resolves to the process exit code. */
export async function runLoop(o: LoopOptions): Promise<number> {
  const backoff = o.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  const server = `${o.where.host}:${o.where.port}`;
  const proto = o.where.protocol ?? IMAP;
  let mailbox: Mailbox | null = null;
  let ready = false;
  let outageSince: number | null = null;
  let attempt = 0;

  const drop = async () => {
    const m = mailbox;
    mailbox = null;
    await m?.close().catch(() => {});
  };

  try {
    while (!o.stop.aborted) {
      try {
        if (!mailbox) mailbox = await o.connect();
        if (!ready) {
          o.onReady?.(await mailbox.open());
          ready = true;
        }
        if (outageSince !== null) {
          const after = Math.round((Date.now() - outageSince) / 1000);
          o.err(`${proto.name} connection to ${server} is back (after ${after} s).`, "connection-back", { protocol: proto.name, server, seconds: after });
          outageSince = null;
        }
        const result: CheckResult = await o.collector.check(mailbox);
        attempt = 0;
        if (o.once) (o.report ?? ((r) => o.out(summary(r), "summary")))(result);
        // a stop that came while the check was finishing: waiting would only wait for the timer
        if (o.once || result.stopped || o.stop.aborted) break;
        await mailbox.waitForChange(o.periodMs, o.stop);
      } catch (err) {
        const fatal = fatalFailure(err, o.where, o.once);
        if (fatal) {
          (o.onFatal ?? ((f) => o.err(f.message, "stopped", { kind: f.kind })))(fatal);
          return fatal.exitCode;
        }
        await drop();
        if (outageSince === null) {
          outageSince = Date.now();
          o.err(
            `${proto.name} connection to ${server} ${ready ? "lost" : "failed"}: ${describeError(err)}${ready ? "" : ` (${advice(err, proto)})`} — retrying with backoff (${backoff.initialMs / 1000} s, doubling, at most ${backoff.maxMs / 1000} s between tries).`,
            ready ? "connection-lost" : "connection-failed",
            { protocol: proto.name, server, error: describeError(err) },
          );
        }
        const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
        attempt++;
        await sleepUnless(delay, o.stop);
      }
    }
    return EXIT.OK;
  } finally {
    await drop();
  }
}

export function summary(r: CheckResult): string {
  const n = r.tickets + r.errors;
  const skipped = r.skipped ? `; ${counted(r.skipped, "message")} already logged before, skipped` : "";
  if (n === 0) return `Nothing new${skipped}.`;
  return `Logged ${counted(n, "message")}: ${counted(r.tickets, "ticket")} to success_request.log, ${counted(r.errors, "other")} to error_request.log${skipped}.`;
}
