// The sandbox's web inbox (like Mailpit/MailHog on port 8025): every mail the sandbox caught,
// newest first; one mail with its headers, text, HTML and raw source; new mail without a
// reload (server-sent events); a button that clears the list; and the same as JSON:
//   GET /api/messages · GET /api/messages/:id · DELETE /api/messages · GET /api/events
// Loopback only. A mail's HTML is served on its own URL with a CSP that forbids scripts and
// every remote load, and shown in an <iframe sandbox="">: it can neither run nor phone home.
import { EventHub, hostAllowed, htmlResponse, jsonResponse, respond, sameOrigin, staticFile, textResponse } from "../web/http";
import { html, page, type Html } from "../web/html";
import { summaryOf, type MailStore, type StoredMessage } from "./store";

/** For a mail's own HTML: nothing but its inline styles and data: images. */
const MAIL_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'self'; sandbox";

export interface SandboxWeb {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export function startSandboxWeb(store: MailStore, opts: { host?: string; port: number }): SandboxWeb {
  const host = opts.host ?? "127.0.0.1";
  const hub = new EventHub();
  const unsubscribe = store.onMessage((m) => hub.send("message", summaryOf(m)));
  const server = Bun.serve({
    hostname: host,
    port: opts.port,
    idleTimeout: 0, // event streams stay open
    fetch: (req) => {
      if (!hostAllowed(req.headers.get("host"), host, server.port!)) return textResponse("unknown host name", 421);
      return route(req, store, hub);
    },
  });
  const url = `http://${host}:${server.port}/`;
  return {
    port: server.port!,
    url,
    async stop() {
      unsubscribe();
      hub.close();
      await server.stop(true);
    },
  };
}

async function route(req: Request, store: MailStore, hub: EventHub): Promise<Response> {
  const { pathname } = new URL(req.url);
  const id = /^\/(?:api\/)?messages\/(\d{1,9})(\/html)?$/.exec(pathname);
  const message = id ? store.get(Number(id[1])) : undefined;
  if (req.method === "GET") {
    if (pathname === "/") return htmlResponse(listPage(store.list()));
    if (pathname === "/api/messages") return jsonResponse(store.list().map(summaryOf));
    if (pathname === "/api/events") return hub.open(req);
    if (id && !message) return textResponse("no such message (cleared, or dropped as the inbox keeps only the newest)", 404);
    if (message && id![2]) return respond(message.html ?? "", 200, "text/html; charset=utf-8", { "Content-Security-Policy": MAIL_HTML_CSP });
    if (message && pathname.startsWith("/api/")) return jsonResponse(message);
    if (message) return htmlResponse(messagePage(message));
    return (await staticFile(pathname)) ?? textResponse("not found", 404);
  }
  // Clearing changes state: only from a page of this origin (a browser sends Origin with both).
  const clear = (req.method === "DELETE" && pathname === "/api/messages") || (req.method === "POST" && pathname === "/clear");
  if (!clear) return textResponse("method not allowed", 405);
  if (req.headers.has("origin") && !sameOrigin(req)) return textResponse("cross-origin request refused", 403);
  if (req.method === "POST" && !sameOrigin(req)) return textResponse("cross-origin request refused", 403);
  store.clear();
  hub.send("cleared", {});
  return req.method === "POST" ? new Response(null, { status: 303, headers: { Location: "/" } }) : jsonResponse({ cleared: true });
}

const NAV = html`<a href="/">Sandbox inbox</a>`;

function listPage(messages: StoredMessage[]): string {
  const rows = messages.map((m) => row(m));
  const body = html`<h1>Sandbox inbox</h1>
<p class="lead">Every mail the sandbox caught — the person's and the admin's. Nothing leaves this machine. Newest first; new mail appears by itself.</p>
<form method="post" action="/clear" class="inline"><button type="submit">Clear the inbox</button></form>
<p id="empty" class="muted"${messages.length ? html` hidden` : ""}>No mail yet. Send a ticket (bun client.ts, or the web form) and it shows up here.</p>
<div class="scroll"><table id="messages" data-live="inbox">
<caption class="visually-hidden">Received mail</caption>
<thead><tr><th scope="col">Time</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Subject</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
  return page({ title: "Sandbox inbox — Mailer", nav: NAV, body, scripts: ["/static/app.js"] });
}

function row(m: StoredMessage): Html {
  return html`<tr><td><time datetime="${m.time}">${m.time.replace("T", " ").slice(0, 19)}</time></td><td><bdi>${m.from}</bdi></td><td><bdi>${m.to || m.rcptTo.join(", ")}</bdi></td><td><a href="/messages/${m.id}"><bdi>${m.subject || "(no subject)"}</bdi></a></td></tr>`;
}

function messagePage(m: StoredMessage): string {
  const headers = m.headers.map((h) => html`<tr><th scope="row">${h.name}</th><td><bdi>${h.value}</bdi></td></tr>`);
  const body = html`<p><a href="/">← all mail</a></p>
<h1><bdi>${m.subject || "(no subject)"}</bdi></h1>
<dl class="meta"><dt>Received</dt><dd><time datetime="${m.time}">${m.time}</time></dd><dt>Envelope</dt><dd><bdi>${m.mailFrom}</bdi> → <bdi>${m.rcptTo.join(", ")}</bdi></dd><dt>Size</dt><dd>${m.size} bytes</dd></dl>
${m.parseError ? html`<p class="error" role="alert">This message could not be parsed: ${m.parseError}</p>` : ""}
<h2>Text</h2>
<pre class="mailtext">${m.text || "(no text part)"}</pre>
${m.html !== null ? html`<h2>HTML</h2><p class="muted">Shown sandboxed: no scripts, no remote images or fonts.</p><iframe class="mailhtml" sandbox="" src="/messages/${m.id}/html" title="HTML part of the message" referrerpolicy="no-referrer"></iframe>` : ""}
<details><summary>Headers (${m.headers.length})</summary><div class="scroll"><table class="headers">${headers}</table></div></details>
<details><summary>Raw source</summary><pre class="raw">${m.raw}</pre></details>
<p><a href="/api/messages/${m.id}">This mail as JSON</a></p>`;
  return page({ title: `${m.subject || "(no subject)"} — Sandbox inbox`, nav: NAV, body });
}
