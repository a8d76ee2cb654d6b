// mailparser's streaming MailParser, corrected where it shows less than a mail client does and
// bounded where it would hold a whole body (issue 12). Overrides three of its internals
// (mailparser 3.9.31 is pinned in package.json; tests/shared/mail-fidelity.test.ts fails if a
// new version moves them):
//
// - createNode: `Content-Type: text` without a subtype (also `text; charset=…`) is text/plain
//   (RFC 2045 §5.2), and a text part whose Content-Disposition is neither `inline` nor
//   `attachment` (a transfer encoding written there, say) and that names no file is shown
//   inline — mailparser filed both as attachments, so the body was logged as "".
// - getDecoder: charset labels resolved like WHATWG/iconv (./charsets.ts), so `charset=437`
//   is CP437, not U+FFFD.
// - processChunk: a text or HTML part's raw bytes are kept only up to a budget; beyond it they
//   are dropped as they arrive, so a 150 MB text part costs no more memory than an 8 MB one.
import { MailParser } from "mailparser";
import { decodeStream, resolveCharset } from "./charsets";

/** Raw bytes kept per message of text/plain parts, and separately of text/html parts. At least
 *  MAX_TEXT_CHARS characters in any charset and transfer encoding seen in mail (base64 of
 *  UTF-8 Cyrillic: 8 MiB → 3 M characters); what is dropped lies past the text cap. */
export const TEXT_BYTES_KEPT = 8 * 1024 * 1024;

const TEXT_TYPES = new Set(["text/plain", "text/html"]);

interface SplitNode {
  contentType: string | false;
  disposition: string | false;
  filename: string | false;
}

interface ParserNode {
  contentType?: string;
  isAttachment?: boolean;
  decoder?: unknown;
}

interface Chunk {
  type: string;
  value?: Buffer;
}

// The base class is untyped JavaScript: its internals are reached through `any`.
const Base = MailParser as unknown as new (options: Record<string, unknown>) => any;

export class ClientLikeMailParser extends Base {
  /** bytes of text parts dropped past TEXT_BYTES_KEPT */
  droppedTextBytes = 0;
  private kept = { text: 0, html: 0 };

  createNode(node: SplitNode): unknown {
    if (node.contentType === "text") node.contentType = "text/plain";
    const ct = node.contentType || "";
    if (TEXT_TYPES.has(ct) && node.disposition && node.disposition !== "inline" && node.disposition !== "attachment" && !node.filename) {
      node.disposition = "inline";
    }
    return super.createNode(node);
  }

  getDecoder(): { decodeStream(charset: string): unknown } {
    const base = super.getDecoder();
    return {
      // ISO-2022-JP keeps mailparser's own decoder (iconv-lite has none)
      decodeStream: (charset: string) => (resolveCharset(charset) === "iso-2022-jp" ? base.decodeStream("iso-2022-jp") : decodeStream(charset)),
    };
  }

  processChunk(data: Chunk, done: (err?: Error) => void): unknown {
    const node = this.curnode as ParserNode | null;
    if (data.type === "body" && data.value && node?.decoder && !node.isAttachment) {
      const kind = node.contentType === "text/html" ? "html" : "text";
      const left = TEXT_BYTES_KEPT - this.kept[kind];
      if (data.value.length > left) {
        this.droppedTextBytes += data.value.length - Math.max(0, left);
        if (left <= 0) return void setImmediate(done);
        data = { ...data, value: data.value.subarray(0, left) };
      }
      this.kept[kind] += data.value!.length;
    }
    return super.processChunk(data, done);
  }
}
