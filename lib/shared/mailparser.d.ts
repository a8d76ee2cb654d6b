// mailparser ships no types; only the streaming MailParser class is used (lib/mail-text.ts).
declare module "mailparser" {
  import { Transform } from "node:stream";
  export class MailParser extends Transform {
    constructor(options?: Record<string, unknown>);
  }
}
