import { expect, test } from "bun:test";
import { escapeHtml, firstLine, formValue, html, page } from "../../lib/web/html";

test("escapeHtml: tags, quotes and ampersands become entities", () => {
  expect(escapeHtml(`<script>alert("x")</script> & 'y'`)).toBe("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
  expect(escapeHtml(null)).toBe("");
  expect(escapeHtml(42)).toBe("42");
});

test("bidi overrides, zero-width and control characters are shown as visible marks, not obeyed", () => {
  const out = escapeHtml("invoice\u202Efdp.exe\u200B\u0007");
  expect(out).not.toMatch(/[\u202E\u200B\u0007]/);
  expect(out).toContain(`<span class="ctl" title="invisible character">U+202E</span>`);
  expect(out).toContain("U+200B");
  expect(out).toContain(`title="control character">U+0007`);
  // ordinary RTL text is left alone (bdi isolates it in the pages)
  expect(escapeHtml("שלום")).toBe("שלום");
});

test("the html tag escapes every interpolation; inside an attribute no markup is added", () => {
  const subject = `"><script>alert(1)</script>\u202E`;
  const out = html`<a title="${subject}">${subject}</a>`.value;
  expect(out).toBe(`<a title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;U+202E">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;<span class="ctl" title="invisible character">U+202E</span></a>`);
  // nested fragments and lists pass through once, unescaped; false/null render nothing
  expect(html`<ul>${["<a>", "b"].map((x) => html`<li>${x}</li>`)}${false}${null}</ul>`.value).toBe("<ul><li>&lt;a&gt;</li><li>b</li></ul>");
});

test("a javascript: URL from mail is only ever text: the tag never builds links from input", () => {
  const out = html`<td>${'<a href="javascript:alert(1)">x</a>'}</td>`.value;
  expect(out).not.toContain("<a ");
  expect(out).toContain("&lt;a href=&quot;javascript:alert(1)&quot;&gt;");
});

test("formValue keeps a person's input verbatim (entities only), so a resend sends the same text", () => {
  expect(formValue(`a<b>&"c'\u202E`).value).toBe("a&lt;b&gt;&amp;&quot;c&#39;\u202E");
});

test("page: viewport for phones, scripts as files only, title escaped", () => {
  const out = page({ title: "<x>", nav: html`<a href="/">Home</a>`, body: html`<p>hi</p>`, scripts: ["/static/app.js"] });
  expect(out).toContain(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
  expect(out).toContain(`<title>&lt;x&gt;</title>`);
  expect(out).toContain(`<script src="/static/app.js" defer></script>`);
  expect(out).not.toMatch(/<script>(?!<)/);
});

test("firstLine: first non-blank line, cut with an ellipsis", () => {
  expect(firstLine("\n  \n  Hello there \nsecond")).toBe("Hello there");
  expect(firstLine("x".repeat(200), 10)).toBe("xxxxxxxxx…");
  expect(firstLine(undefined)).toBe("");
});
