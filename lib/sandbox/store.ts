// Every mail the sandbox received, for its web inbox and JSON API: raw source plus what a person
// wants to see (headers, text, HTML). In memory and bounded — the newest MAX_MESSAGES, and at
// most MAX_BYTES of source, text and HTML together — so a sandbox left running for days cannot
// eat the machine.
import { MailParser } from "mailparser";

export const MAX_MESSAGES = 1000;
/** raw source plus the decoded text and HTML kept of it */
export const MAX_BYTES = 64 * 1024 * 1024;

export interface StoredMessage {
  id: number;
  /** ISO-8601 time the sandbox received it */
  time: string;
  /** SMTP envelope */
  mailFrom: string;
  rcptTo: string[];
  subject: string;
  from: string;
  to: string;
  size: number;
  headers: { name: string; value: string }[];
  text: string;
  html: string | null;
  raw: string;
  /** why the message could not be parsed (raw is still kept) */
  parseError?: string;
}

export type MessageSummary = Pick<StoredMessage, "id" | "time" | "from" | "to" | "subject" | "size" | "rcptTo">;

export function summaryOf(m: StoredMessage): MessageSummary {
  return { id: m.id, time: m.time, from: m.from, to: m.to, subject: m.subject, size: m.size, rcptTo: m.rcptTo };
}

export class MailStore {
  private readonly messages: StoredMessage[] = [];
  /** what each message costs in memory, in the same order */
  private readonly weights: number[] = [];
  private bytes = 0;
  private nextId = 1;
  private readonly listeners = new Set<(m: StoredMessage) => void>();

  constructor(private readonly limits = { messages: MAX_MESSAGES, bytes: MAX_BYTES }) {}

  /** Parses and keeps one message; drops the oldest ones past the limits. Never throws. */
  async add(raw: Buffer, envelope: { mailFrom: string; rcptTo: string[] }, now = new Date()): Promise<StoredMessage> {
    const view = await viewOf(raw);
    const message: StoredMessage = { id: this.nextId++, time: now.toISOString(), ...envelope, size: raw.length, raw: raw.toString("utf8"), ...view };
    const weight = raw.length + message.text.length + (message.html?.length ?? 0);
    this.messages.push(message);
    this.weights.push(weight);
    this.bytes += weight;
    while (this.messages.length > this.limits.messages || (this.bytes > this.limits.bytes && this.messages.length > 1)) {
      this.messages.shift();
      this.bytes -= this.weights.shift()!;
    }
    for (const listener of this.listeners) listener(message);
    return message;
  }

  /** Newest first. */
  list(): StoredMessage[] {
    return [...this.messages].reverse();
  }

  get(id: number): StoredMessage | undefined {
    return this.messages.find((m) => m.id === id);
  }

  clear(): void {
    this.messages.length = 0;
    this.weights.length = 0;
    this.bytes = 0;
  }

  get size(): number {
    return this.messages.length;
  }

  onMessage(listener: (m: StoredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

type View = Pick<StoredMessage, "subject" | "from" | "to" | "headers" | "text" | "html" | "parseError">;

/** Headers as written (unfolded, decoded), the text part and the HTML part, if any. */
function viewOf(raw: Buffer): Promise<View> {
  return new Promise((resolve) => {
    const parser = new MailParser({ skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true, keepCidLinks: true });
    const view: View = { subject: "", from: "", to: "", headers: [], text: "", html: null };
    let done = false;
    const finish = (error?: unknown) => {
      if (done) return;
      done = true;
      if (error) view.parseError = error instanceof Error ? error.message : String(error);
      resolve(view);
    };
    parser.on("headerLines", (lines: { key: string; line: string }[]) => {
      view.headers = lines.map(({ line }) => splitHeader(line));
    });
    parser.on("headers", (h: Map<string, unknown>) => {
      view.subject = String(h.get("subject") ?? "");
      view.from = (h.get("from") as { text?: string } | undefined)?.text ?? "";
      view.to = (h.get("to") as { text?: string } | undefined)?.text ?? "";
    });
    parser.on("data", (data: { type: string; text?: string; html?: string | false; content?: NodeJS.ReadableStream; release?: () => void }) => {
      if (data.type === "text") {
        view.text = data.text ?? "";
        view.html = typeof data.html === "string" ? data.html : null;
      } else if (data.type === "attachment") {
        data.content?.resume();
        data.content?.on("end", () => data.release?.());
      }
    });
    parser.on("end", () => finish());
    parser.on("error", finish);
    parser.end(raw);
  });
}

function splitHeader(line: string): { name: string; value: string } {
  const colon = line.indexOf(":");
  const unfolded = line.replace(/\r?\n[ \t]+/g, " ");
  return colon < 0 ? { name: "", value: unfolded } : { name: line.slice(0, colon).trim(), value: unfolded.slice(colon + 1).trim() };
}
