// The web form: one more client of the wire protocol, as client.ts is. It checks the address
// and the message with the same rules the server uses (lib/wire/validate.ts), shows each
// reason next to its field, sends the ticket with requestTicket and shows the ticket number.
// Works without JavaScript. The browser's address travels to the server signed (lib/wire/via.ts)
// when WEB_FRONTEND_SECRET is set, so per-client rate limits bind each person.
import { requestTicket } from "../client/connection";
import { validateEmail, validateMessage } from "../wire/validate";
import { signVia } from "../wire/via";
import { formValue, html, page } from "./html";
import { nav } from "./views";

export interface FormDeps {
  serverHost: string;
  serverPort: number;
  maxMessageChars: number;
  frontendSecret: string | null;
  /** how long to wait for the server's reply */
  timeoutMs?: number;
}

export interface FormState {
  email: string;
  message: string;
  errors: { email?: string; message?: string; form?: string };
  ticket?: string;
  csrf: string;
}

export type FormOutcome = { status: number; state: Omit<FormState, "csrf"> };

/** Validates, sends, and says what to show. Never throws. */
export async function submitTicket(deps: FormDeps, email: string, message: string, browserIp: string): Promise<FormOutcome> {
  const errors: FormState["errors"] = {};
  const checkedEmail = validateEmail(email);
  if (!checkedEmail.ok) errors.email = checkedEmail.error;
  const checkedMessage = validateMessage(message, deps.maxMessageChars);
  if (!checkedMessage.ok) errors.message = checkedMessage.error;
  if (errors.email || errors.message) return { status: 422, state: { email, message, errors } };

  const via = deps.frontendSecret ? signVia(deps.frontendSecret, browserIp, email, message) : undefined;
  const outcome = await requestTicket(deps.serverHost, deps.serverPort, email, message, deps.timeoutMs ?? 60_000, via);
  if (outcome.kind === "unreachable") return { status: 503, state: { email, message, errors: { form: outcome.error } } };
  const reply = outcome.reply;
  if (reply.status === "OK") return { status: 200, state: { email: "", message: "", errors: {}, ticket: reply.ticket } };
  const where = reply.field ?? "form";
  const status = reply.code === "RATE_LIMITED" ? 429 : reply.code === "MAIL_FAILED" || reply.code === "INTERNAL" ? 502 : 422;
  return { status, state: { email, message, errors: { [where]: reply.error } } };
}

function fieldError(id: string, error: string | undefined) {
  return error ? html`<p class="field-error" id="${id}-error">${error}</p>` : "";
}

export function formPage(s: FormState, maxMessageChars: number): string {
  const described = (id: "email" | "message") => (s.errors[id] ? html` aria-invalid="true" aria-describedby="${id}-error ${id}-hint"` : html` aria-describedby="${id}-hint"`);
  const body = html`<h1>New ticket</h1>
${s.ticket ? html`<div class="success" role="status"><p>Thank you — your ticket number is <strong id="ticket-number">${s.ticket}</strong>.</p><p>A copy went to your address; the admin has it too.</p></div>` : ""}
${s.errors.form ? html`<p class="error" role="alert" id="form-error">${s.errors.form}</p>` : ""}
<form method="post" action="/new" class="ticket-form" novalidate>
<input type="hidden" name="csrf" value="${s.csrf}">
<div class="field${s.errors.email ? " invalid" : ""}">
<label for="email">Your email address</label>
<input id="email" name="email" type="email" inputmode="email" autocomplete="email" required maxlength="320" value="${formValue(s.email)}"${described("email")}>
<p class="hint" id="email-hint">We send the ticket number and a copy of your message there.</p>
${fieldError("email", s.errors.email)}
</div>
<div class="field${s.errors.message ? " invalid" : ""}">
<label for="message">Your message</label>
<textarea id="message" name="message" rows="8" required${described("message")}>${formValue(s.message)}</textarea>
<p class="hint" id="message-hint">Plain text, up to ${maxMessageChars} characters.</p>
${fieldError("message", s.errors.message)}
</div>
<button type="submit">Send the ticket</button>
</form>`;
  return page({ title: "New ticket — Mailer", nav: nav("/new"), body });
}
