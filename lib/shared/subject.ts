// The one place that knows the ticket subject format. The server formats with it and the
// collector parses with it, so the two can never drift apart.

const TICKET_SUBJECT = /^\[Ticket #(\d{5,})\] Mailer$/;
// Leading reply/forward prefixes that mail clients add: "Re:", "RE:", "Fwd:", "FW:", repeated.
const REPLY_PREFIX = /^(?:re|fwd?)\s*:\s*/i;

export function formatSubject(ticket: string): string {
  if (!/^\d{5,}$/.test(ticket)) throw new Error(`ticket number must be at least 5 digits, got ${JSON.stringify(ticket)}`);
  return `[Ticket #${ticket}] Mailer`;
}

export type ParsedSubject = { ticket: string; reply: boolean };

/**
 * Parses a decoded subject. Matches only when, after trimming and stripping leading
 * Re:/Fwd:/Fw: prefixes, what is left is exactly the ticket format; otherwise null.
 */
export function parseSubject(subject: string | null | undefined): ParsedSubject | null {
  if (typeof subject !== "string") return null;
  let rest = subject.trim();
  let reply = false;
  for (let m = REPLY_PREFIX.exec(rest); m; m = REPLY_PREFIX.exec(rest)) {
    rest = rest.slice(m[0].length);
    reply = true;
  }
  const match = TICKET_SUBJECT.exec(rest.trim());
  return match ? { ticket: match[1]!, reply } : null;
}

/** Why a subject is not a ticket subject, for the error log's `reason`. */
export function subjectMismatchReason(subject: string | null | undefined): string {
  if (typeof subject !== "string" || subject.trim() === "") return "message has no subject";
  return `subject ${JSON.stringify(subject.length > 200 ? subject.slice(0, 200) + "…" : subject)} is not in the ticket format "[Ticket #<number>] Mailer"`;
}
