// The collector's life: connect, check, wait (IDLE or PERIOD_CHECK), check again; reconnect
// with capped exponential backoff when the connection drops, reporting an outage once when it
// starts and once when it ends; stop for good on wrong credentials or an untrusted
// certificate (retrying cannot fix those, and hammering a server with a bad password gets
// accounts locked).
import { EXIT } from "../shared/cli";
import type { CheckResult, Collector } from "./collector";
import { LocalStateError } from "./collector";
import type { Mailbox, MailboxInfo } from "./imap-mailbox";
import { CERTIFICATE_HINT, isCertificateError } from "../shared/tls";
import { isMailerError } from "../shared/errors";

export interface LoopOptions {
  connect: () => Promise<Mailbox>;
  collector: Collector;
  periodMs: number;
  once: boolean;
  /** aborted by SIGINT/SIGTERM: the batch in hand is finished, then the loop ends with 0 */
  stop: AbortSignal;
  out: (line: string) => void;
  err: (line: string) => void;
  /** what the messages call things */
  where: { login: string; host: string; port: number; mailbox: string; protocol?: Protocol };
  backoff?: { initialMs: number; maxMs: number };
  /** the first successful open (for the readiness line) */
  onReady?: (info: MailboxInfo) => void;
}

export type ErrorKind = "auth" | "certificate" | "starttls" | "tlsmode" | "local" | "mailer" | "transient";

/** What the messages call the protocol, its keys and its usual ports. */
export type Protocol = { name: "IMAP" | "POP3"; tlsPort: number; plainPort: number };
export const IMAP: Protocol = { name: "IMAP", tlsPort: 993, plainPort: 143 };

export function errorKind(err: unknown): ErrorKind {
  const e = err as { authenticationFailed?: boolean; tlsFailed?: boolean; code?: string; message?: string } | undefined;
  if (err instanceof LocalStateError) return "local";
  if (isMailerError(err)) return "mailer";
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
  const p = proto.name;
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
          o.err(`${p} connection to ${server} is back (after ${Math.round((Date.now() - outageSince) / 1000)} s).`);
          outageSince = null;
        }
        const result: CheckResult = await o.collector.check(mailbox);
        attempt = 0;
        if (o.once) o.out(summary(result));
        // a stop that came while the check was finishing: waiting would only wait for the timer
        if (o.once || result.stopped || o.stop.aborted) break;
        await mailbox.waitForChange(o.periodMs, o.stop);
      } catch (err) {
        const kind = errorKind(err);
        if (kind === "auth") {
          o.err(
            `${p} login to ${server} failed for EMAIL_LOGIN=${o.where.login}: the server said "${describeError(err)}". ` +
              `Check EMAIL_PASSWORD (and EMAIL_LOGIN) in .env.local; the collector stops rather than retry a wrong password.`,
          );
          return EXIT.USAGE;
        }
        if (kind === "certificate") {
          o.err(`The TLS certificate of the ${p} server ${server} could not be verified (${describeError(err)}) — ${CERTIFICATE_HINT}.`);
          return EXIT.USAGE;
        }
        if (kind === "starttls") {
          o.err(`${p}_SECURE=starttls, but ${server} does not offer STARTTLS (${describeError(err)}) — use ${p}_SECURE=tls with the server's TLS port (usually ${proto.tlsPort}), or unset ${p}_SECURE.`);
          return EXIT.USAGE;
        }
        if (kind === "tlsmode") {
          o.err(
            `${server} does not speak implicit TLS (${describeError(err)}) — it is probably a STARTTLS port (usually ${proto.plainPort}): ` +
              `set ${p}_SECURE=starttls there, or use the server's implicit-TLS port (usually ${proto.tlsPort}) with ${p}_SECURE=tls.`,
          );
          return EXIT.USAGE;
        }
        if (kind === "mailer") {
          o.err(`Stopped: ${(err as Error).message}`);
          return (err as { exitCode: number }).exitCode;
        }
        if (kind === "local") {
          o.err(`Stopped: ${(err as Error).message}`);
          return EXIT.REFUSED;
        }
        await drop();
        if (o.once) {
          o.err(`Cannot check the ${p} server ${server}: ${describeError(err)} — ${advice(err, proto)}`);
          return EXIT.UNREACHABLE;
        }
        if (outageSince === null) {
          outageSince = Date.now();
          o.err(`${p} connection to ${server} ${ready ? "lost" : "failed"}: ${describeError(err)}${ready ? "" : ` (${advice(err, proto)})`} — retrying with backoff (${backoff.initialMs / 1000} s, doubling, at most ${backoff.maxMs / 1000} s between tries).`);
        }
        const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
        attempt++;
        await sleep(delay, o.stop);
      }
    }
    return EXIT.OK;
  } finally {
    await drop();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

export function summary(r: CheckResult): string {
  const n = r.tickets + r.errors;
  const plural = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  const skipped = r.skipped ? `; ${plural(r.skipped, "message")} already logged before, skipped` : "";
  if (n === 0) return `Nothing new${skipped}.`;
  return `Logged ${plural(n, "message")}: ${plural(r.tickets, "ticket")} to success_request.log, ${plural(r.errors, "other")} to error_request.log${skipped}.`;
}
