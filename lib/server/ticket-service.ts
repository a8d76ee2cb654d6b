// One request, from a parsed line to a reply: validate → rate limits → ticket number → the
// user's message → the admin's copy. Transport-agnostic: the TCP server feeds it lines, tests
// feed it directly, and the mail goes through the MailSender interface.
import type { DeliveryOutcome, Outbox } from "./outbox";
import { StoreError, type IssuedTicket, type RateStore } from "../store/types";
import { errorReply, parseRequest, type Reply } from "../wire/protocol";
import type { RateLimiter } from "./rate-limit";
import type { FailureKind, MailSender } from "./smtp";
import { formatSubject } from "../shared/subject";
import { tryAgainIn, counted } from "../shared/words";
import { validateEmail, validateMessage, type ValidEmail } from "../wire/validate";
import { requestClient } from "../wire/via";

export interface TicketServiceDeps {
  adminEmail: string;
  maxMessageChars: number;
  sender: MailSender;
  outbox: Outbox;
  perClient: RateLimiter;
  perRecipient: RateLimiter;
  /** the store's shared counts (several servers on one PostgreSQL); the limits above say how many */
  sharedRates?: RateStore;
  /** loud problems (e.g. a disk error while queueing) */
  logError: (line: string) => void;
  /** WEB_FRONTEND_SECRET: with it, a signed `via` names the browser behind the web form */
  frontendSecret?: string | null;
  /**
   * How long the reply may wait for the admin's copy (SMTP_TIMEOUT); past it the person gets
   * OK with the copy "queued" — it is in the outbox already and its attempt goes on.
   */
  adminWaitMs?: number;
}

/** What a person is told when the failure is the server's to fix (login, TLS, network, timeout). */
export const MAILBOX_UNAVAILABLE = "the support mailbox is not available right now — try again later";

/** Failures the person can act on: their own address or message was refused. */
const PERSON_CAN_ACT = new Set<FailureKind>(["recipient", "message"]);

export interface Outcome {
  reply: Reply;
  /** for the one-line request log: never message text */
  ticket?: string;
  admin?: DeliveryOutcome;
  /** the precise reason of a MAIL_FAILED, for the server's log (the reply may say less) */
  detail?: string;
}

/** Which limit is full, and whole seconds until it has room. */
interface Full {
  which: "client" | "recipient";
  retryAfter: number;
}

export class TicketService {
  constructor(private readonly d: TicketServiceDeps) {}

  /** Handles one request line from `clientIp`. Never throws: failures become INTERNAL. */
  async handle(line: string, clientIp: string): Promise<Outcome> {
    try {
      return await this.process(line, clientIp);
    } catch (err) {
      this.d.logError(`internal error while handling a request: ${(err as Error)?.stack ?? err}`);
      return { reply: errorReply("INTERNAL", "the server hit an internal error and did not send anything — try again; if it persists, tell the administrator (details are in the server's log)") };
    }
  }

  private async process(line: string, clientIp: string): Promise<Outcome> {
    const parsed = parseRequest(line);
    if (!parsed.ok) return { reply: parsed.reply };
    const client = requestClient(parsed.request, clientIp, this.d.frontendSecret ?? null);
    if (!client.ok) return { reply: errorReply("BAD_REQUEST", client.error) };
    clientIp = client.client;
    const email = validateEmail(parsed.request.email);
    if (!email.ok) return { reply: errorReply(email.code, email.error, { field: "email" }) };
    const message = validateMessage(parsed.request.message, this.d.maxMessageChars);
    if (!message.ok) return { reply: errorReply(message.code, message.error, { field: "message" }) };

    const limited = await this.rateLimited(clientIp, email.value);
    if (limited) return limited;

    const text = message.value;
    const requester = email.value.asciiAddress;
    // The number and the admin's copy, held, in one durable transaction BEFORE the person's mail
    // goes out: a crash after the SMTP server accepted the person's mail can never lose the copy.
    let issued: IssuedTicket;
    try {
      issued = await this.d.outbox.issue(requester, (ticket) => ({ from: this.d.adminEmail, to: this.d.adminEmail, replyTo: requester, subject: formatSubject(ticket), text }));
    } catch (err) {
      this.d.logError(`cannot issue a ticket: ${(err as Error).message} — refusing the request, nothing was sent`);
      const why = err instanceof StoreError && err.code === "exhausted" ? "the server has no ticket numbers left" : "the server cannot write its outbox (a problem with its disk or database)";
      return { reply: errorReply("INTERNAL", `${why}, so nothing was sent — try again later; the administrator has been told`) };
    }
    const { ticket, copy } = issued;
    const sent = await this.d.sender.send({ from: this.d.adminEmail, to: requester, subject: copy.mail.subject, text });
    if (!sent.ok) {
      // The admin gets nothing: no ticket exists for the person.
      await this.cancelQuietly(copy.id, ticket);
      const told = PERSON_CAN_ACT.has(sent.kind) ? sent.error : MAILBOX_UNAVAILABLE;
      return {
        reply: errorReply("MAIL_FAILED", `your message was not sent: ${told}`, sent.kind === "recipient" ? { field: "email" } : {}),
        detail: sent.error,
      };
    }
    const admin = await this.adminCopy(copy.id, ticket);
    return { reply: { status: "OK", ticket }, ticket, admin };
  }

  /** The admin copy's outcome (released, then its first attempt), or "queued" once the reply
   *  has waited adminWaitMs for it — it is held in the store already, and its attempt goes on. */
  private async adminCopy(id: string, ticket: string): Promise<DeliveryOutcome> {
    const attempt = this.releaseQuietly(id, ticket);
    if (this.d.adminWaitMs === undefined) return await attempt;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<DeliveryOutcome>((resolve) => (timer = setTimeout(() => resolve("queued"), this.d.adminWaitMs)));
    try {
      return await Promise.race([attempt, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Rate limits count requests that reach the mail step; both are checked before either counts. */
  private async rateLimited(clientIp: string, email: ValidEmail): Promise<Outcome | null> {
    const recipientKey = email.asciiAddress.toLowerCase();
    let full: Full | null;
    try {
      full = this.d.sharedRates ? await this.sharedFull(clientIp, recipientKey) : this.localFull(clientIp, recipientKey);
    } catch (err) {
      this.d.logError(`cannot count the rate limits: ${(err as Error).message} — refusing the request, nothing was sent`);
      return { reply: errorReply("INTERNAL", "the server cannot reach its database, so nothing was sent — try again later; the administrator has been told") };
    }
    if (!full) return null;
    if (full.which === "client") {
      const limit = counted(this.d.perClient.limit, "ticket");
      return { reply: errorReply("RATE_LIMITED", `too many tickets from your address ${clientIp} (limit ${limit} per minute) — ${tryAgainIn(full.retryAfter)}`, { retryAfter: full.retryAfter }) };
    }
    const limit = counted(this.d.perRecipient.limit, "ticket");
    return {
      reply: errorReply("RATE_LIMITED", `too many tickets for ${email.address} (limit ${limit} per hour per address) — ${tryAgainIn(full.retryAfter)}`, { field: "email", retryAfter: full.retryAfter }),
    };
  }

  /** This process's own counts (one server, or an engine without shared limits). */
  private localFull(clientIp: string, recipientKey: string): Full | null {
    const byClient = this.d.perClient.check(clientIp);
    if (!byClient.ok) return { which: "client", retryAfter: byClient.retryAfter };
    const byRecipient = this.d.perRecipient.check(recipientKey);
    if (!byRecipient.ok) return { which: "recipient", retryAfter: byRecipient.retryAfter };
    this.d.perClient.record(clientIp);
    this.d.perRecipient.record(recipientKey);
    return null;
  }

  /** Counts shared by every server of the store: a client cannot multiply its quota by
   *  reaching several of them. */
  private async sharedFull(clientIp: string, recipientKey: string): Promise<Full | null> {
    const limits = [
      { which: "client" as const, limiter: this.d.perClient, key: `client ${clientIp}` },
      { which: "recipient" as const, limiter: this.d.perRecipient, key: `recipient ${recipientKey}` },
    ].filter((l) => l.limiter.enabled);
    if (limits.length === 0) return null;
    const r = await this.d.sharedRates!.hit(limits.map((l) => ({ key: l.key, limit: l.limiter.limit, windowMs: l.limiter.windowMs })));
    return r.ok ? null : { which: limits[r.index]!.which, retryAfter: Math.max(1, Math.ceil(r.retryAfterMs / 1000)) };
  }

  private async cancelQuietly(id: string, ticket: string): Promise<void> {
    try {
      await this.d.outbox.cancel(id);
    } catch (err) {
      // Worst case: the hold expires and the admin hears of a request whose mail failed.
      this.d.logError(`outbox: cannot cancel the held admin copy of ticket ${ticket}: ${(err as Error).message}`);
    }
  }

  /** The person has the mail, so the reply is OK whatever happens to the copy: it stays held
   *  in the store, and is delivered once its hold expires. */
  private async releaseQuietly(id: string, ticket: string): Promise<DeliveryOutcome> {
    try {
      return await this.d.outbox.release(id);
    } catch (err) {
      this.d.logError(`outbox: cannot release the admin copy of ticket ${ticket}: ${(err as Error).message} — it is delivered when its hold expires`);
      return "queued";
    }
  }
}
