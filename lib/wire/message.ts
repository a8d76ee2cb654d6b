// The rules for the message a person types (docs/validation.md "Validation", "Message"; keep the two in
// step). Pure: no I/O, no configuration reads.
import { codePoints, describe, formatCount, kindOf } from "./display";
import type { ValidationResult } from "./validate";

export const DEFAULT_MAX_MESSAGE_CHARS = 10_000;

function messageError(error: string): ValidationResult<never> {
  return { ok: false, field: "message", code: "INVALID_MESSAGE", error };
}

function lineAndColumn(text: string, index: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < index; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${codePoints(text.slice(lineStart, index)) + 1}`;
}

/**
 * Validates and normalises a message: CRLF and lone CR become LF; leading blank lines and
 * trailing whitespace are removed; everything else is kept exactly as typed. Length is
 * counted in Unicode code points after normalisation. `maxChars` must be a positive integer.
 */
export function validateMessage(input: unknown, maxChars = DEFAULT_MAX_MESSAGE_CHARS): ValidationResult<string> {
  if (!Number.isSafeInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`validateMessage: maxChars must be a positive integer, got ${String(maxChars)}`);
  }
  if (typeof input !== "string") {
    return messageError(`message must be a string, ${kindOf(input)} — send the text of your request as a string`);
  }
  let text = input.replace(/\r\n?/g, "\n");
  if (!text.isWellFormed()) {
    const m = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text)!;
    return messageError(`message contains an unpaired surrogate ${describe(m[0])} at ${lineAndColumn(text, m.index)} (damaged text) — retype or re-paste that part of the message`);
  }
  const control = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/.exec(text);
  if (control) {
    return messageError(`message contains the control character ${describe(control[0])} at ${lineAndColumn(text, control.index)} — remove it; only line breaks and tabs are allowed`);
  }
  // Leading lines that hold only whitespace, and all whitespace at the very end.
  text = text.replace(/^(?:[^\S\n]*\n)+/, "").trimEnd();
  if (text.trim() === "") return messageError("message is empty — type the text of your request");
  const n = codePoints(text);
  if (n > maxChars) {
    return messageError(`message is ${formatCount(n)} characters; the limit is ${formatCount(maxChars)} — shorten it by at least ${formatCount(n - maxChars)} (characters are counted as Unicode code points: an emoji usually counts as 1)`);
  }
  return { ok: true, value: text };
}
