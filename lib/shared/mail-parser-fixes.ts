// mailparser's streaming MailParser, corrected where it shows less than a mail client does and
// bounded where it would hold a whole body (issue 12). Overrides four of its internals
// (mailparser 3.9.31 is pinned in package.json; tests/shared/mail-fidelity.test.ts fails if a
// new version moves them):
//
// - createNode: `Content-Type: text` without a subtype (also `text; charset=…`) is text/plain
//   (RFC 2045 §5.2), and a text part whose Content-Disposition is neither `inline` nor
//   `attachment` (a transfer encoding written there, say) and that names no file is shown
//   inline — mailparser filed both as attachments, so the body was logged as "".
// - getDecoder: charset labels resolved like WHATWG/iconv (./charsets.ts), so `charset=437`
//   is CP437, not U+FFFD.
// - a text or HTML part's bytes (after the transfer encoding, before the charset) are kept only
//   up to a budget; beyond it they are dropped as they leave the part's decoder, so a 150 MB
//   text part costs no more memory than a 4 MB one.
// - the splitter's delimiter lines (./mime-delimiters.ts): transport padding, and a delimiter of
//   any enclosing multipart ends the parts nested in it.
import { MailParser } from "mailparser";
import { decodeStream, resolveCharset } from "./charsets";
import { readDelimitersLikeClients } from "./mime-delimiters";

/** Bytes per character at most, in any charset (UTF-8, UTF-16 pairs, UTF-32, GB18030): keeping
 *  this many per character of the text cap, what is dropped always lies past the cap. */
export const MAX_BYTES_PER_CHAR = 4;

const TEXT_TYPES = new Set(["text/plain", "text/html"]);

interface SplitNode {
  contentType: string | false;
  disposition: string | false;
  filename: string | false;
}

interface ParserNode {
  contentType?: string;
  isAttachment?: boolean;
  decoder?: { push(chunk: Buffer | null): boolean };
}

// The base class is untyped JavaScript: its internals are reached through `any`.
const Base = MailParser as unknown as new (options: Record<string, unknown>) => any;

export class ClientLikeMailParser extends Base {
  /** bytes of text parts dropped past the budget */
  droppedTextBytes = 0;
  private kept = { text: 0, html: 0 };
  /** decoded bytes kept per message of text/plain parts, and separately of text/html parts */
  private readonly budget: number;

  /** `keepChars`: the text cap (characters); text beyond it is dropped as it arrives */
  constructor(options: Record<string, unknown> & { keepChars: number }) {
    super(options);
    this.budget = options.keepChars * MAX_BYTES_PER_CHAR;
    readDelimitersLikeClients(this.splitter);
  }

  createNode(node: SplitNode): unknown {
    if (node.contentType === "text") node.contentType = "text/plain";
    const ct = node.contentType || "";
    if (TEXT_TYPES.has(ct) && node.disposition && node.disposition !== "inline" && node.disposition !== "attachment" && !node.filename) {
      node.disposition = "inline";
    }
    const created = super.createNode(node) as ParserNode;
    if (created.decoder && !created.isAttachment) this.keepOnlyBudget(created);
    return created;
  }

  getDecoder(): { decodeStream(charset: string): unknown } {
    const base = super.getDecoder();
    return {
      // ISO-2022-JP keeps mailparser's own decoder (iconv-lite has none)
      decodeStream: (charset: string) => (resolveCharset(charset) === "iso-2022-jp" ? base.decodeStream("iso-2022-jp") : decodeStream(charset)),
    };
  }

  /** What the part's decoder hands on past the budget is dropped (a Transform's output goes
   *  through push(); mailparser collects an inline part's text from it). */
  private keepOnlyBudget(node: ParserNode): void {
    const decoder = node.decoder!;
    const push = decoder.push.bind(decoder);
    const kind = node.contentType === "text/html" ? "html" : "text";
    decoder.push = (chunk: Buffer | null) => {
      if (chunk === null || chunk.length === 0) return push(chunk);
      const left = this.budget - this.kept[kind];
      if (chunk.length > left) {
        this.droppedTextBytes += chunk.length - Math.max(0, left);
        if (left <= 0) return true;
        chunk = chunk.subarray(0, left);
      }
      this.kept[kind] += chunk.length;
      return push(chunk);
    };
  }
}
