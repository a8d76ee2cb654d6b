// Where a message is parsed: on the main thread, or in the worker (parse-pool.ts), where a
// deadline can stop it. Figures behind these choices: bench/FINDINGS.md, "Moved from code comments".
import { parseMail } from "../shared/mail-text";
import type { ParseOutcome, ParsePool } from "./parse-pool";

/** Messages up to this size may be parsed on the main thread. */
export const INLINE_UP_TO = 256 * 1024;

/**
 * Most mail is parsed on the main thread: handing each message to the worker and back costs
 * more than the parse itself, and the worker's second JS heap raises peak memory. The worker
 * stays for what can be slow — and only there can a deadline stop a parser, since a timer on
 * the thread running it never fires:
 *
 * - messages over `inlineUpTo`, held whole or streamed (`parseStream`);
 * - any message whose text needs an HTML part converted: html-to-text is the one stage whose
 *   cost grows faster than its input. The main thread parses with conversion turned off
 *   (parseMail's `convertHtml: false`), which says when it was needed; then the message goes
 *   to the worker. multipart/alternative with a text part needs no conversion.
 *
 * What the main thread can then meet is bounded: mailparser's own limits reject an oversized
 * header and too many MIME nodes as errors, and every other stage is linear. The trade-off: an
 * unknown mailparser bug that loops forever on small non-HTML mail would stall the collector
 * instead of costing one error entry; none is known, and the parser's failures (rejections)
 * still become one error entry each.
 */
export class ParserPolicy {
  private inline: Promise<unknown> = Promise.resolve();

  constructor(private readonly pool: ParsePool, private readonly inlineUpTo = INLINE_UP_TO) {}

  /** A message held whole. */
  parse(source: Buffer): Promise<ParseOutcome> {
    if (source.length > this.inlineUpTo) return this.pool.parse(source);
    // one at a time, in order: a unit's parsers never pile up in memory together
    const run = this.inline.then(() => this.parseInline(source));
    this.inline = run.catch(() => {});
    return run;
  }

  /** A message too large to hold: always the worker, read only as fast as it parses. */
  parseStream(chunks: AsyncIterable<Uint8Array>, size: number): Promise<ParseOutcome> {
    return this.pool.parseStream(chunks, size);
  }

  private async parseInline(source: Buffer): Promise<ParseOutcome> {
    let mail;
    try {
      mail = await parseMail(source, { convertHtml: false });
    } catch (err) {
      return { ok: false, error: `the message could not be parsed: ${(err as Error)?.message ?? String(err)}` };
    }
    return mail.htmlNotConverted ? this.pool.parse(source) : { ok: true, mail };
  }
}
