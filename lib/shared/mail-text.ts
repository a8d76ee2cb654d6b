// Raw message → what the collector logs: decoded subject, sender, Message-ID, plain text and
// attachment names. Uses mailparser's streaming MailParser (with the corrections of
// ./mail-parser-fixes.ts), so a message can come as one Buffer or as a stream of chunks (very
// large mail); attachment contents are counted and dropped as they pass, and text parts are
// kept only up to a budget, never held whole. A simple message given whole (one inline
// text/plain part) is read by ./simple-mail.ts instead, with the same result, faster.
import { decodeEncodedWords } from "./charsets";
import { ClientLikeMailParser } from "./mail-parser-fixes";
import { parseSimpleMail, type SimpleParse } from "./simple-mail";

// html-to-text through `require`, the build mailparser itself requires: an `import` would load
// its ESM build beside it, and evaluate it and its six dependencies twice (~10 ms of every
// collector start; tests/shared/dual-packages.test.ts)
const { htmlToText } = require("html-to-text") as typeof import("html-to-text");

/** Longest text kept in a log entry; a longer body is cut and marked `textTruncated`. */
export const MAX_TEXT_CHARS = 1_000_000;
/** HTML longer than this is not converted to text (html-to-text is slow on huge documents). */
export const MAX_HTML_TO_TEXT = 5_000_000;

export interface AttachmentInfo {
  name: string | null;
  type: string;
  size: number;
}

export interface MailText {
  subject: string | null;
  from: string | null;
  /** Reply-To, when the message has one (the server's admin copy points it at the user) */
  replyTo: string | null;
  messageId: string | null;
  text: string;
  textTruncated: boolean;
  attachments: AttachmentInfo[];
  /** non-fatal parser complaints (e.g. HTML too long to convert) */
  warnings: string[];
  /** only with `convertHtml: false`: the text needed an HTML part converted, which was not
   *  done — this result is incomplete; parse again with conversion (in the worker) */
  htmlNotConverted?: true;
}

export interface ParseMailOptions {
  /** false: never run html-to-text (the one stage whose cost grows faster than the input —
   *  see lib/collector-core.ts); a message that needs it resolves with `htmlNotConverted` */
  convertHtml?: boolean;
}

type Input = Buffer | Uint8Array | AsyncIterable<Uint8Array>;

interface AddressObject {
  value?: { address?: string; name?: string }[];
  text?: string;
}

/** Parses one message. Rejects only when mailparser itself fails on the input. */
export function parseMail(input: Input, options: ParseMailOptions = {}): Promise<MailText> {
  if (input instanceof Uint8Array) {
    const simple = simpleParse(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    if (simple) return Promise.resolve(mailText({ ...simple, html: undefined, droppedTextBytes: 0, attachments: [], warnings: [] }));
  }
  return parseMailWithMailparser(input, options);
}

/** ./simple-mail.ts, or null — also when it throws (mailparser then decides what that input is). */
function simpleParse(raw: Buffer): SimpleParse | null {
  try {
    return parseSimpleMail(raw, MAX_TEXT_CHARS);
  } catch {
    return null;
  }
}

/** parseMail through mailparser for every input (tests compare ./simple-mail.ts with it). */
export function parseMailWithMailparser(input: Input, options: ParseMailOptions = {}): Promise<MailText> {
  const convertHtml = options.convertHtml !== false;
  return new Promise<MailText>((resolve, reject) => {
    const parser = new ClientLikeMailParser({
      keepChars: MAX_TEXT_CHARS,
      skipTextToHtml: true,
      skipImageLinks: true,
      skipTextLinks: true,
      keepCidLinks: true,
      // 0: mailparser then reports every HTML part it would convert as "HTML too long for
      // parsing" instead of converting it — exactly the signal needed, nothing converted
      maxHtmlLengthToParse: convertHtml ? MAX_HTML_TO_TEXT : 0,
    });
    let htmlNotConverted = false;
    const attachments: AttachmentInfo[] = [];
    const warnings: string[] = [];
    let headers: Map<string, unknown> | null = null;
    let headerLines: { key: string; line: string }[] = [];
    let text: string | undefined;
    let html: string | undefined;
    let settled = false;
    let errorTimer: ReturnType<typeof setTimeout> | null = null;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      if (errorTimer) clearTimeout(errorTimer);
      parser.destroy();
      reject(err instanceof Error ? err : new Error(String(err)));
    };

    // MailParser reports some problems (HTML too long, HTML not convertible) as 'error' and
    // still finishes; a fatal one never reaches 'end'. So an error is fatal only if 'end'
    // does not follow soon.
    parser.on("error", (err: Error) => {
      if (!convertHtml && /^HTML too long for parsing/.test(err.message)) htmlNotConverted = true;
      warnings.push(err.message);
      if (!errorTimer) errorTimer = setTimeout(() => fail(err), 1000);
    });
    parser.on("headers", (h: Map<string, unknown>) => {
      headers = h;
    });
    parser.on("headerLines", (lines: { key: string; line: string }[]) => {
      headerLines = lines;
    });

    let reading = false;
    const read = () => {
      reading = true;
      for (;;) {
        const data = parser.read() as null | { type: string; text?: string; html?: string; filename?: string; contentType?: string; content?: NodeJS.ReadableStream; release?: () => void };
        if (data === null) break;
        if (data.type === "text") {
          text = data.text;
          html = data.html;
        } else if (data.type === "attachment") {
          const info: AttachmentInfo = { name: data.filename ?? null, type: data.contentType ?? "application/octet-stream", size: 0 };
          attachments.push(info);
          // count and drop the content; the parser waits for release() before going on
          data.content!.on("data", (chunk: Buffer) => {
            info.size += chunk.length;
          });
          data.content!.on("end", () => {
            data.release?.();
            read();
          });
          reading = false;
          return;
        }
      }
      reading = false;
    };
    parser.on("readable", () => {
      if (!reading) read();
    });

    parser.on("end", () => {
      if (settled) return;
      settled = true;
      if (errorTimer) clearTimeout(errorTimer);
      resolve(mailText({ headers: headers ?? new Map(), headerLines, text, html, droppedTextBytes: parser.droppedTextBytes, attachments, warnings, convertHtml, htmlNotConverted }));
    });

    feed(parser, input).catch(fail);
  });
}

interface Parsed extends SimpleParse {
  html: string | undefined;
  droppedTextBytes: number;
  attachments: AttachmentInfo[];
  warnings: string[];
  convertHtml?: boolean;
  htmlNotConverted?: boolean;
}

/** The result from what the parser saw (both ways of parsing end here). */
function mailText(p: Parsed): MailText {
  let { text, htmlNotConverted } = p;
  if (text === undefined && p.html !== undefined) {
    // HTML-only mail whose HTML is not the root part (beside attachments, in
    // multipart/related): mailparser leaves the text out, a mail client shows the HTML
    if (p.convertHtml === false) htmlNotConverted = true;
    else text = htmlOnlyText(p.html, p.warnings);
  }
  let body = (text ?? "").replace(/\r\n?/g, "\n").replace(/\s+$/, "");
  const textTruncated = body.length > MAX_TEXT_CHARS || p.droppedTextBytes > 0;
  if (body.length > MAX_TEXT_CHARS) body = body.slice(0, MAX_TEXT_CHARS);
  const h = p.headers;
  const subjectLines = p.headerLines.filter((l) => l.key === "subject").map((l) => l.line);
  return {
    subject: subjectOf(subjectLines) ?? headerString(h.get("subject")),
    from: fromOf(h.get("from") as AddressObject | undefined),
    replyTo: fromOf(h.get("reply-to") as AddressObject | undefined),
    messageId: headerString(h.get("message-id")),
    text: body,
    textTruncated,
    attachments: p.attachments,
    warnings: p.warnings,
    ...(htmlNotConverted ? { htmlNotConverted: true as const } : {}),
  };
}

async function feed(parser: ClientLikeMailParser, input: Input): Promise<void> {
  if (input instanceof Uint8Array) {
    parser.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    return;
  }
  for await (const chunk of input) {
    if (!parser.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
      await new Promise<void>((resolve) => parser.once("drain", resolve));
    }
  }
  parser.end();
}

function htmlOnlyText(html: string, warnings: string[]): string {
  if (html.length > MAX_HTML_TO_TEXT) {
    warnings.push(`HTML too long for parsing ${html.length} bytes`);
    return "";
  }
  try {
    return htmlToText(html);
  } catch {
    warnings.push("Failed to parse HTML");
    return "";
  }
}

/** The last Subject, decoded here when it is 7-bit (encoded-words: ./charsets.ts joins those
 *  split inside a character); null leaves raw 8-bit subjects to mailparser. */
function subjectOf(lines: string[]): string | null | undefined {
  const line = lines.at(-1);
  if (line === undefined || !/^[\x00-\x7f]*$/.test(line)) return undefined;
  const value = line.replace(/(?:\r?\n|\r)[ \t]*/g, " ").replace(/^[^:]*:/, "");
  const decoded = decodeEncodedWords(value).trim();
  return decoded === "" ? null : decoded;
}

function headerString(value: unknown): string | null {
  if (Array.isArray(value)) value = value[value.length - 1];
  if (typeof value !== "string") return null;
  const trimmed = value.trim();
  return trimmed === "" ? null : trimmed;
}

/** The address when there is exactly one ("ivan@example.com"), else the header as text. */
function fromOf(from: AddressObject | undefined): string | null {
  if (!from) return null;
  const addresses = (from.value ?? []).map((a) => a.address).filter((a): a is string => !!a);
  if (addresses.length === 1) return addresses[0]!;
  const text = from.text?.trim();
  return text ? text : null;
}
