// What the client ends with, as a script reads it (--json) and as a person reads it. Client-side
// errors have the server's error shape ({"status":"ERROR","code",…,"error"}), so a script
// handles one shape whoever refused; waits are said in words (lib/shared/words.ts).
import { tryAgainIn } from "../shared/words";
import type { ErrorReply, Reply } from "../wire/protocol";

/** Codes only the client gives: never on the wire. */
export type ClientCode = "USAGE" | "CONFIG" | "UNREACHABLE" | "CANCELLED" | "EMPTY_INPUT";

export type ClientResult = Reply | { status: "ERROR"; code: ClientCode | ErrorReply["code"]; field?: "email" | "message"; error: string };

export function clientError(code: ClientCode | ErrorReply["code"], error: string, field?: "email" | "message"): ClientResult {
  return { status: "ERROR", code, ...(field ? { field } : {}), error };
}

/** "Not accepted (RATE_LIMITED): too many tickets … — try again in 59 minutes". */
export function describeRefusal(r: ErrorReply): string {
  let reason = r.error;
  if (r.retryAfter !== undefined) {
    // the server's own wording of the wait is replaced by words from retryAfter
    reason = reason.replace(/\s*[—-]\s*try again in [^—]*$/i, "");
    reason = `${reason} — ${tryAgainIn(r.retryAfter)}`;
  }
  return `Not accepted (${r.code}): ${reason}`;
}
