// The common simple message — one text/plain part (or no Content-Type), shown inline, in any
// transfer encoding and any charset but ISO-2022-JP — read without mailparser's stream
// machinery (MailParser + mailsplit's splitter, a Transform per stage, events, setImmediate per
// step), which costs more than the decoding itself for small mail. Issue 11 wants the collector
// at least as fast as a bare fetch-and-parse loop; on the bench mix (bench/messages.ts) this
// takes parseMail from 57 to 43 µs per message (plain UTF-8 35 → 15, windows-1251 QP 71 → 41, 23 with ./quoted-printable.ts,
// base64 51 → 27) and the collector from 81–91 % to 99–116 % of that loop
// (bench/FINDINGS.md, "Parsing simple messages without mailparser's streams").
//
// It runs mailparser's OWN pieces, synchronously, on the whole message: mailsplit's MimeNode
// reads the header block, an idle ClientLikeMailParser's processHeaders decodes the headers, the
// node's own transfer decoder (libbase64; for quoted-printable ./quoted-printable.ts, libqp's
// decode() byte for byte) and iconv-lite's decoder do the body, fed the
// chunks the splitter would feed them. Anything else returns null and goes the mailparser way;
// tests/shared/simple-mail.test.ts checks over the corpus, the bench mix and edge cases that
// both ways give the same result.
import { PassThrough, type Transform } from "node:stream";
import iconv from "iconv-lite";
import { decodeQuotedPrintable } from "./quoted-printable";
import { resolveCharset } from "./charsets";
import { ClientLikeMailParser, MAX_BYTES_PER_CHAR } from "./mail-parser-fixes";

/** What mail-text.ts builds its result from, as mailparser's events would have carried it. */
export interface SimpleParse {
  headers: Map<string, unknown>;
  headerLines: { key: string; line: string }[];
  text: string | undefined;
}

/** mailsplit's MimeNode after parseHeaders (@zone-eu/mailsplit lib/mime-node.js). */
interface MimeNode {
  addHeaderChunk(line: Buffer): void;
  parseHeaders(): void;
  getDecoder(): Transform;
  headers: { getList(): unknown[]; lines: { key: string; line: string }[] };
  contentType: string | false;
  disposition: string | false;
  filename: string | false;
  multipart: string | false;
  charset: string | false;
  encoding: string | false;
  flowed: boolean;
  delSp: boolean;
  libmime: { decodeFlowed(text: string, delSp: boolean): string };
}

/** Larger headers or final lines go to the splitter, which has limits and flushes for them. */
const MAX_HEAD = 256 * 1024;
const MAX_PENDING_LINE = 64 * 1024;
/** The headers lib/shared/mail-text.ts takes from mailparser's header map. */
const READ_BY_MAIL_TEXT = new Set(["subject", "from", "reply-to", "message-id"]);

let idle: { parser: any; MimeNode: new (parent: false, config: unknown) => MimeNode } | null = null;
/** One parser that never reads anything, for its header decoding and its splitter's MimeNode class. */
function borrowed() {
  if (!idle) {
    const parser = new ClientLikeMailParser({ keepChars: 1 });
    idle = { parser, MimeNode: parser.splitter.node.constructor };
  }
  return idle;
}

/** A whole message → its headers and text, or null when it is not a simple message (or when
 *  its text would reach the text budget, where mailparser drops bytes). */
export function parseSimpleMail(raw: Buffer, keepChars: number): SimpleParse | null {
  const headEnd = endOfHead(raw);
  // a multipart message goes to mailparser anyway: spare reading its headers twice
  if (headEnd > MAX_HEAD || raw.subarray(0, headEnd).indexOf("multipart/") >= 0) return null;
  const { parser, MimeNode } = borrowed();
  const node = new MimeNode(false, parser.splitter.config);
  node.addHeaderChunk(raw.subarray(0, headEnd));
  node.parseHeaders();
  if (!isInlinePlainText(node)) return null;
  const body = raw.subarray(headEnd);
  if (body.length > keepChars * MAX_BYTES_PER_CHAR) return null;
  const chunks = splitterChunks(body);
  if (!chunks) return null;
  const text = decodeText(node, chunks);
  if (text === null) return null;
  // processHeaders reads each header on its own: given only the ones mail-text.ts reads, it
  // decodes them as it would in the whole list, at half the cost (no To, Date, MIME headers)
  const wanted = node.headers.getList().filter((line) => READ_BY_MAIL_TEXT.has((line as { key: string }).key));
  return { headers: parser.processHeaders(wanted), headerLines: node.headers.lines, text: text || undefined };
}

/** Where the splitter ends the root's header block: after the first empty line ("\n" or
 *  "\r\n"), or the whole message when there is none. */
function endOfHead(raw: Buffer): number {
  let start = 0;
  for (let lf = raw.indexOf(0x0a); lf >= 0; start = lf + 1, lf = raw.indexOf(0x0a, start)) {
    if (lf === start || (lf === start + 1 && raw[start] === 0x0d)) return lf + 1;
  }
  return raw.length;
}

/** mailparser's createNode with the fixes of ./mail-parser-fixes.ts: an inline text/plain part. */
function isInlinePlainText(node: MimeNode): boolean {
  const type = node.contentType === "text" || !node.contentType ? "text/plain" : node.contentType;
  let disposition = node.disposition;
  if (disposition && disposition !== "inline" && disposition !== "attachment" && !node.filename) disposition = "inline";
  return type === "text/plain" && !node.multipart && (!disposition || disposition === "inline");
}

/** The body as the splitter hands it on for one Buffer written whole: up to the last line
 *  break, then the unterminated last line; null for a last line long enough to be flushed early. */
function splitterChunks(body: Buffer): Buffer[] | null {
  const lastLf = body.lastIndexOf(0x0a) + 1;
  if (body.length - lastLf >= MAX_PENDING_LINE) return null;
  return [body.subarray(0, lastLf), body.subarray(lastLf)].filter((c) => c.length > 0);
}

/** The part's decoders in mailparser's order (transfer encoding, format=flowed, charset), run
 *  synchronously; null for ISO-2022-JP (mailparser's own decoder, not iconv-lite). */
function decodeText(node: MimeNode, chunks: Buffer[]): string | null {
  const charset = node.charset || "utf-8";
  const convert = !["ascii", "usascii", "utf8"].includes(charset.toLowerCase().replace(/[^a-z0-9]+/g, ""));
  const name = convert ? resolveCharset(charset) ?? "utf-8" : null;
  if (name === "iso-2022-jp") return null;
  // quoted-printable: libqp's decode() on the whole body (its Decoder only gathers the chunks), faster
  let bytes = node.encoding === "quoted-printable" ? qpDecoded(chunks) : transferDecode(node.getDecoder(), chunks);
  if (node.flowed && bytes.length) {
    const flowed = node.libmime.decodeFlowed(Buffer.concat(bytes).toString("binary"), node.delSp);
    bytes = [Buffer.from(flowed, "binary")];
  }
  let text: string;
  if (name) {
    // iconv-lite's decoding stream: one write per chunk, then end; its string output goes
    // through Buffers in mailparser (a lone surrogate becomes U+FFFD)
    const decoder = iconv.getDecoder(name);
    const parts = bytes.map((b) => decoder.write(b));
    parts.push(decoder.end() ?? "");
    text = Buffer.from(parts.join("")).toString();
  } else text = Buffer.concat(bytes).toString();
  return text.replace(/\r?\n/g, "\n");
}

/** What libqp's Decoder outputs for these chunks: nothing for none, else one decoded Buffer. */
function qpDecoded(chunks: Buffer[]): Buffer[] {
  const decoded = chunks.length ? decodeQuotedPrintable(Buffer.concat(chunks)) : Buffer.alloc(0);
  return decoded.length ? [decoded] : [];
}

/** What the node's transfer decoder (a Transform) outputs for these chunks, its _transform and
 *  _flush called directly (both push synchronously). PassThrough: the chunks themselves. */
function transferDecode(decoder: Transform, chunks: Buffer[]): Buffer[] {
  if (decoder instanceof PassThrough) return chunks;
  const out: Buffer[] = [];
  const noop = () => {};
  decoder.push = (chunk: Buffer | null) => {
    if (chunk?.length) out.push(chunk);
    return true;
  };
  for (const chunk of chunks) decoder._transform(chunk, "buffer" as BufferEncoding, noop);
  decoder._flush(noop);
  return out;
}
