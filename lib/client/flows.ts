// The client's two ways of working (README "Client"): one attempt (flags, or a pipe on
// stdin), or the interactive loop that asks again after an error, keeping what was valid.
// Pure of process I/O: runClient passes the prompter, the sender and the output streams, so
// tests drive both flows directly.
import { EXIT } from "../shared/cli";
import type { TicketOutcome } from "./connection";
import type { Prompter } from "./prompt";
import { validateEmail, validateMessage } from "../wire/validate";
import { tryAgainIn } from "../shared/words";

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
}

/** Exit code for a server's error reply. */
export function exitCodeFor(code: string): number {
  return code === "BUSY" ? EXIT.UNREACHABLE : EXIT.REFUSED;
}

function accepted(out: Out, ticket: string, email: string): number {
  out.out(`Ticket #${ticket} accepted — your message was sent to ${email} and to the support team.`);
  return EXIT.OK;
}

/** One attempt, no questions: flags or piped input. Returns the exit code. */
export async function runOnce(email: string, message: string, maxMessageChars: number, send: Send, out: Out): Promise<number> {
  const e = validateEmail(email);
  if (!e.ok) {
    out.err(`Not sent: ${e.error}`);
    return EXIT.REFUSED;
  }
  const m = validateMessage(message, maxMessageChars);
  if (!m.ok) {
    out.err(`Not sent: ${m.error}`);
    return EXIT.REFUSED;
  }
  const outcome = await send(e.value.address, m.value);
  if (outcome.kind === "unreachable") {
    out.err(outcome.error);
    return EXIT.UNREACHABLE;
  }
  const r = outcome.reply;
  if (r.status === "OK") return accepted(out, r.ticket, e.value.address);
  out.err(`Not accepted (${r.code}): ${refusalText(r)}`);
  return exitCodeFor(r.code);
}

/** The interactive loop: asks, sends, and after an error asks again keeping what was valid. */
export async function runInteractive(p: Prompter, maxMessageChars: number, send: Send, out: Out): Promise<number> {
  let email: string | null = null;
  let message: string | null = null;
  const cancelled = () => {
    out.err("Cancelled — nothing was sent.");
    return EXIT.REFUSED;
  };
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
      if (!(await again())) return EXIT.UNREACHABLE;
      continue;
    }
    const r = outcome.reply;
    if (r.status === "OK") return accepted(out, r.ticket, email);
    out.err(`✗ Not accepted (${r.code}): ${refusalText(r)}`);
    if (r.field === "email") {
      out.err(`Your message is kept; please enter the address again.`);
      email = null;
    } else if (r.field === "message") {
      out.err(`Your address (${email}) is kept; please enter the message again.`);
      message = null;
    } else if (!(await again())) return exitCodeFor(r.code);
  }
}

/** The server's reason; with the wait in words when it gave retryAfter (seconds) and its text does not say it. */
function refusalText(r: { error: string; retryAfter?: number }): string {
  if (r.retryAfter === undefined) return r.error;
  const wait = tryAgainIn(r.retryAfter);
  return r.error.includes(wait) ? r.error : `${r.error} — ${wait}`;
}
