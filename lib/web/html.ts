// HTML output that is escaped by default. Every string from mail, logs or a form is
// attacker-controlled: the `html` tag escapes each interpolation, and only fragments built by
// the tag itself (class Html) pass through unescaped. Bidi controls (U+202A–U+202E,
// U+2066–U+2069) and other invisible format characters are shown as visible "U+202E" marks,
// so a subject cannot reverse the text around it or hide what an address really is.

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
// Bidi embeddings/overrides/isolates, marks, zero-width characters, BOM: invisible but meaningful.
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;
// C0/C1 controls other than tab and line feed.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

function codePoint(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Text → HTML text or attribute value, with invisible characters made visible. */
export function escapeHtml(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return text
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    .replace(INVISIBLE, (c) => `<span class="ctl" title="invisible character">${codePoint(c)}</span>`)
    .replace(CONTROL, (c) => `<span class="ctl" title="control character">${codePoint(c)}</span>`);
}

/** For attribute values: entities only (a <span> must not land inside an attribute). */
export function escapeAttr(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!).replace(INVISIBLE, codePoint).replace(CONTROL, codePoint);
}

/**
 * A person's own input put back into a form field (input value, textarea): entities only, every
 * character kept, so sending the form again sends exactly what they typed. Never for display.
 */
export function formValue(value: string): Html {
  return new Html(value.replace(/[&<>"']/g, (c) => ENTITIES[c]!));
}

type Part = Html | string | number | boolean | null | undefined | Part[];

function render(part: Part, inAttribute: boolean): string {
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map((p) => render(p, inAttribute)).join("");
  if (part === null || part === undefined || part === false) return "";
  return inAttribute ? escapeAttr(part) : escapeHtml(part);
}

/**
 * Tagged template: `html\`<td>${subject}</td>\`` escapes subject; nested html`` fragments pass.
 * An interpolation right after `="` is an attribute value: entities only, no markup.
 */
export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < parts.length; i++) out += render(parts[i]!, out.endsWith('="')) + strings[i + 1]!;
  return new Html(out);
}

/** A whole page: viewport for phones, one stylesheet, scripts only as files ('self' CSP). */
export function page(opts: { title: string; nav: Html; body: Html; scripts?: string[] }): string {
  const scripts = (opts.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title}</title>
<link rel="stylesheet" href="/static/style.css">
${scripts}
</head>
<body>
<header><nav aria-label="Main">${opts.nav}</nav></header>
<main id="main">
${opts.body}
</main>
</body>
</html>
`.value;
}

/** The first line of a text that has any visible content, cut to `max` characters. */
export function firstLine(text: unknown, max = 120): string {
  const line = String(text ?? "").split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
  const chars = [...line];
  return chars.length > max ? chars.slice(0, max - 1).join("") + "…" : line;
}
