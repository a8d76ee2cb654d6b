// Deterministic generator of a realistic inbox backlog for the collector benchmark: ticket mail
// (some replies), ordinary mail, multipart (alternative text+HTML, mixed with an attachment),
// and windows-1251 Cyrillic mail in quoted-printable or base64. Pure: same seed → same bytes.
import { formatSubject } from "../lib/shared/subject";
import { prng as seededPrng } from "../tests/helpers/kit";

export type Kind = "ticket" | "reply" | "other";
export type Shape = "plain" | "alternative" | "mixed" | "cp1251-qp" | "cp1251-b64";

export interface GeneratedMessage {
  raw: Buffer;
  kind: Kind;
  shape: Shape;
  /** Ticket number for ticket/reply mail, else null. */
  ticket: string | null;
  /** The decoded subject a parser must see. */
  subject: string;
  /** The plain text a parser must find (before trailing-newline normalisation). */
  text: string;
  messageId: string;
}

/** A reproducible stream in [0, 1) from the shared seeded PRNG. */
export function prng(seed: number): () => number {
  return seededPrng(seed).next;
}

/** Encodes text as windows-1251 (ASCII, Cyrillic А–я, Ё/ё); other characters become "?". */
export function encodeCp1251(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[i] = c < 0x80 ? c : c >= 0x410 && c <= 0x44f ? c - 0x410 + 0xc0 : c === 0x401 ? 0xa8 : c === 0x451 ? 0xb8 : 0x3f;
  }
  return out;
}

/** Quoted-printable (RFC 2045) of bytes, soft line breaks at 76 columns, CRLF line ends kept. */
export function quotedPrintable(bytes: Buffer): string {
  const lines: string[] = [];
  let line = "";
  const push = (token: string) => {
    if (line.length + token.length > 75) { lines.push(line + "="); line = ""; }
    line += token;
  };
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0d && bytes[i + 1] === 0x0a) { lines.push(line); line = ""; i++; continue; }
    if (b === 0x0a) { lines.push(line); line = ""; continue; }
    const atEol = i + 1 === bytes.length || bytes[i + 1] === 0x0d || bytes[i + 1] === 0x0a;
    const plain = (b >= 33 && b <= 126 && b !== 61) || (b === 32 && !atEol);
    push(plain ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`);
  }
  lines.push(line);
  return lines.join("\r\n");
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString("base64").match(/.{1,76}/g) ?? [""]).join("\r\n");
}

const LATIN = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua printer invoice password reset account please help thanks".split(" ");
const CYRILLIC = "здравствуйте не работает принтер в бухгалтерии прошу помочь счёт оплата пароль доступ спасибо Ёлка срочно отчёт".split(" ");

function words(rand: () => number, dict: string[], count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(dict[Math.floor(rand() * dict.length)]!);
  return out.join(" ");
}

function paragraphText(rand: () => number, dict: string[]): string {
  const lines = 1 + Math.floor(rand() * 8);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(words(rand, dict, 4 + Math.floor(rand() * 12)));
  return out.join("\n");
}

const crlf = (s: string) => s.replace(/\r?\n/g, "\r\n");
const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** RFC 2047 B-encoded windows-1251 word. */
function cp1251Word(text: string): string {
  return `=?windows-1251?B?${encodeCp1251(text).toString("base64")}?=`;
}

/**
 * `count` messages; `firstTicket` numbers the ticket mail. Mix (by a seeded draw): ~45% ticket
 * mail (a fifth of it replies "Re: …"), ~55% ordinary; shapes: ~45% plain UTF-8, ~15%
 * multipart/alternative, ~10% multipart/mixed with a small attachment, ~30% windows-1251.
 */
export function generateMessages(count: number, seed = 1, firstTicket = 50001): GeneratedMessage[] {
  const rand = prng(seed);
  const out: GeneratedMessage[] = [];
  let ticketNo = firstTicket;
  const baseDate = Date.UTC(2026, 0, 1);
  for (let i = 0; i < count; i++) {
    const k = rand();
    const kind: Kind = k < 0.36 ? "ticket" : k < 0.45 ? "reply" : "other";
    const s = rand();
    const shape: Shape = s < 0.45 ? "plain" : s < 0.6 ? "alternative" : s < 0.7 ? "mixed" : s < 0.85 ? "cp1251-qp" : "cp1251-b64";
    const cyr = shape.startsWith("cp1251");
    const ticket = kind === "other" ? null : String(ticketNo++);
    const subject = ticket ? (kind === "reply" ? "Re: " : "") + formatSubject(ticket) : cyr ? `Вопрос ${words(rand, CYRILLIC, 2)}` : `Question about ${words(rand, LATIN, 2)}`;
    const text = paragraphText(rand, cyr ? CYRILLIC : LATIN);
    const messageId = `<bench-${seed}-${i}@mailer.bench>`;
    const encodedSubject = cyr && !ticket ? cp1251Word(subject) : subject;
    const from = cyr ? `${cp1251Word("Иван Петров")} <ivan${i % 97}@example.ru>` : `User ${i % 97} <user${i % 97}@example.com>`;
    const head = [
      `From: ${from}`,
      "To: admin@mailer.test",
      `Subject: ${encodedSubject}`,
      `Date: ${new Date(baseDate + i * 60_000).toUTCString().replace("GMT", "+0000")}`,
      `Message-ID: ${messageId}`,
      "MIME-Version: 1.0",
    ];
    let body: string;
    if (shape === "plain") {
      head.push("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit");
      body = crlf(text);
    } else if (shape === "cp1251-qp") {
      head.push("Content-Type: text/plain; charset=windows-1251", "Content-Transfer-Encoding: quoted-printable");
      body = quotedPrintable(encodeCp1251(crlf(text)));
    } else if (shape === "cp1251-b64") {
      head.push("Content-Type: text/plain; charset=windows-1251", "Content-Transfer-Encoding: base64");
      body = base64Lines(encodeCp1251(crlf(text)));
    } else {
      const boundary = `=_bench_${seed}_${i}`;
      const textPart = ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "", quotedPrintable(Buffer.from(crlf(text)))];
      const htmlPart = ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "",
        quotedPrintable(Buffer.from(`<html><body>${escapeHtml(text).split("\n").map((l) => `<p>${l}</p>`).join("")}</body></html>`))];
      const parts =
        shape === "alternative"
          ? [textPart, htmlPart]
          : [textPart, ["Content-Type: application/octet-stream; name=\"log.bin\"", "Content-Disposition: attachment; filename=\"log.bin\"", "Content-Transfer-Encoding: base64", "",
              base64Lines(Buffer.from(Array.from({ length: 512 + Math.floor(rand() * 2048) }, () => Math.floor(rand() * 256))))]];
      head.push(`Content-Type: multipart/${shape === "alternative" ? "alternative" : "mixed"}; boundary="${boundary}"`);
      body = parts.map((p) => `--${boundary}\r\n${p.join("\r\n")}\r\n`).join("") + `--${boundary}--`;
    }
    const raw = cyr
      ? Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n", "latin1"), Buffer.from(body + "\r\n", "latin1")])
      : Buffer.from(head.join("\r\n") + "\r\n\r\n" + body + "\r\n", "utf8");
    out.push({ raw, kind, shape, ticket, subject, text, messageId });
  }
  return out;
}
