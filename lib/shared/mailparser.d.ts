// mailparser ships no types; only the streaming MailParser class is used (lib/shared/mail-text.ts),
// with the internals lib/shared/mail-parser-fixes.ts overrides. libmime, iconv-lite and
// html-to-text are mailparser's own dependencies, used for the same jobs.
declare module "mailparser" {
  import { Transform } from "node:stream";
  export class MailParser extends Transform {
    constructor(options?: Record<string, unknown>);
  }
}
declare module "libmime/lib/charsets" {
  const labels: Record<string, string>;
  export default labels;
}
declare module "libmime/lib/charset" {
  const charset: { decode(bytes: Buffer, charset: string): string };
  export default charset;
}
declare module "html-to-text" {
  export function htmlToText(html: string, options?: Record<string, unknown>): string;
}
