// A parsed message → the JSON Lines entry for success_request.log or error_request.log.
// The ticket subject is recognised by lib/shared/subject.ts, the same pair the server formats with.
import type { AttachmentInfo, MailText } from "../shared/mail-text";
import { parseSubject, subjectMismatchReason } from "../shared/subject";

/** Where a message came from: enough to find it again and to recognise it after a crash. */
export interface MessageMeta {
  uid: number;
  uidValidity: number;
  /** sha256 of the raw source, hex; null when the source never arrived (pending.ts) or was
   *  refused unread (too large) */
  sha256: string | null;
  size: number;
}

export interface LogEntry {
  time: string;
  ticket?: string;
  reply?: true;
  /** success log, when the store has the server's ledger: the number was issued by this Mailer
   *  and the person's mail accepted */
  issued?: boolean;
  text: string;
  textTruncated?: true;
  from: string | null;
  replyTo?: string;
  subject: string | null;
  messageId: string | null;
  uid: number;
  uidValidity: number;
  sha256: string | null;
  size: number;
  attachments?: AttachmentInfo[];
  reason?: string;
}

export type Classified = { log: "success"; entry: LogEntry } | { log: "error"; entry: LogEntry };

export function classify(mail: MailText, meta: MessageMeta, now: Date = new Date()): Classified {
  const parsed = parseSubject(mail.subject);
  const base = {
    time: now.toISOString(),
    ...(parsed ? { ticket: parsed.ticket, ...(parsed.reply ? { reply: true as const } : {}) } : {}),
    text: mail.text,
    ...(mail.textTruncated ? { textTruncated: true as const } : {}),
    from: mail.from,
    ...(mail.replyTo && mail.replyTo !== mail.from ? { replyTo: mail.replyTo } : {}),
    subject: mail.subject,
    messageId: mail.messageId,
    uid: meta.uid,
    uidValidity: meta.uidValidity,
    sha256: meta.sha256,
    size: meta.size,
    ...(mail.attachments.length ? { attachments: mail.attachments } : {}),
  };
  if (parsed) return { log: "success", entry: base };
  return { log: "error", entry: { ...base, reason: subjectMismatchReason(mail.subject) } };
}

/** The error entry for a message that could not be fetched or parsed at all. */
export function unparsedEntry(meta: MessageMeta, reason: string, text = "", now: Date = new Date()): Classified {
  return {
    log: "error",
    entry: { time: now.toISOString(), text, from: null, subject: null, messageId: null, uid: meta.uid, uidValidity: meta.uidValidity, sha256: meta.sha256, size: meta.size, reason },
  };
}

/** The entry with `issued` in its place, right after the ticket fields. */
export function withIssued(entry: LogEntry, issued: boolean): LogEntry {
  const { time, ticket, reply, ...rest } = entry;
  return { time, ticket, ...(reply ? { reply } : {}), issued, ...rest };
}
