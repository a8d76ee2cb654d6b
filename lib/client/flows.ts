// The client's two ways of working (docs/client.md "Client"): one attempt (flags, or a pipe on
// stdin), or the interactive loop that asks again after an error, keeping what was valid.
// Pure of process I/O: runClient passes the prompter, the sender and the output streams, so
// tests drive both flows directly. With `json`, stdout gets exactly one line — the server's
// reply, or a client-side error in the same shape (result.ts) — and the exit codes stay.
import { EXIT } from "../shared/cli";
import type { TicketOutcome } from "./connection";
import type { Prompter } from "./prompt";
import { clientError, describeRefusal, type ClientResult } from "./result";
import { validateEmail, validateMessage } from "../wire/validate";
import type { ErrorReply } from "../wire/protocol";

/** Splits piped input: the first line is the address, the rest (to EOF) the message. */
export function splitPipedInput(input: string): { email: string; message: string } {
  const nl = input.indexOf("\n");
  if (nl === -1) return { email: input.replace(/\r$/, ""), message: "" };
  return { email: input.slice(0, nl).replace(/\r$/, ""), message: input.slice(nl + 1) };
}

export type Send = (email: string, message: string) => Promise<TicketOutcome>;
export interface Out {
  out: (line: string) => void;
  err: (line: string) => void;
  /** --json: the result as one JSON line on stdout instead of sentences */
  json?: boolean;
}

/** Exit code for a server's error reply. */
export function exitCodeFor(code: string): number {
  return code === "BUSY" ? EXIT.UNREACHABLE : EXIT.REFUSED;
}

/** The end of a run: the JSON line, or what a person reads (`human`). Returns the exit code. */
export function finish(out: Out, result: ClientResult, exit: number, human: () => void): number {
  if (out.json) out.out(JSON.stringify(result));
  else human();
  return exit;
}

function accepted(out: Out, ticket: string, email: string): number {
  return finish(out, { status: "OK", ticket }, EXIT.OK, () => out.out(`Ticket #${ticket} accepted — your message was sent to ${email} and to the support team.`));
}

/** One attempt, no questions: flags or piped input. Returns the exit code. */
export async function runOnce(email: string, message: string, maxMessageChars: number, send: Send, out: Out): Promise<number> {
  const e = validateEmail(email);
  if (!e.ok) return finish(out, clientError("INVALID_EMAIL", e.error, "email"), EXIT.REFUSED, () => out.err(`Not sent: ${e.error}`));
  const m = validateMessage(message, maxMessageChars);
  if (!m.ok) return finish(out, clientError("INVALID_MESSAGE", m.error, "message"), EXIT.REFUSED, () => out.err(`Not sent: ${m.error}`));
  const outcome = await send(e.value.address, m.value);
  if (outcome.kind === "unreachable") return finish(out, clientError("UNREACHABLE", outcome.error), EXIT.UNREACHABLE, () => out.err(outcome.error));
  const r = outcome.reply;
  if (r.status === "OK") return accepted(out, r.ticket, e.value.address);
  return finish(out, r, exitCodeFor(r.code), () => out.err(describeRefusal(r)));
}

/** What the interactive loop asks again after a refusal: the address, the message, or both kept. */
function askAgainFor(r: ErrorReply): "email" | "message" | "both" {
  // a wait is not fixed by another address: the same one works once the limit allows
  if (r.code === "RATE_LIMITED") return "both";
  return r.field ?? "both";
}

/** The interactive loop: asks, sends, and after an error asks again keeping what was valid. */
export async function runInteractive(p: Prompter, maxMessageChars: number, send: Send, out: Out): Promise<number> {
  let email: string | null = null;
  let message: string | null = null;
  const cancelled = () => finish(out, clientError("CANCELLED", "cancelled at the prompt — nothing was sent"), EXIT.REFUSED, () => out.err("Cancelled — nothing was sent."));
  const again = async (): Promise<boolean> => {
    const answer = await p.ask("Try again? [Y/n] ");
    return answer !== null && !/^\s*n/i.test(answer);
  };
  for (;;) {
    if (email === null) {
      const typed = await p.ask("Your email address: ");
      if (typed === null) return cancelled();
      const v = validateEmail(typed);
      if (!v.ok) {
        out.err(`✗ ${v.error}`);
        continue;
      }
      email = v.value.address;
    }
    if (message === null) {
      const typed = await p.askLines(`Your message (finish with an empty line or Ctrl-D), up to ${maxMessageChars} characters:`);
      if (typed === null) return cancelled();
      const v = validateMessage(typed, maxMessageChars);
      if (!v.ok) {
        out.err(`✗ ${v.error}`);
        continue;
      }
      message = v.value;
    }
    const outcome = await send(email, message);
    if (outcome.kind === "unreachable") {
      out.err(`✗ ${outcome.error}`);
      if (!(await again())) return finish(out, clientError("UNREACHABLE", outcome.error), EXIT.UNREACHABLE, () => {});
      continue;
    }
    const r = outcome.reply;
    if (r.status === "OK") return accepted(out, r.ticket, email);
    out.err(`✗ ${describeRefusal(r)}`);
    const redo = askAgainFor(r);
    if (redo === "email") {
      out.err(`Your message is kept; please enter the address again.`);
      email = null;
    } else if (redo === "message") {
      out.err(`Your address (${email}) is kept; please enter the message again.`);
      message = null;
    } else if (!(await again())) return finish(out, r, exitCodeFor(r.code), () => {});
  }
}
