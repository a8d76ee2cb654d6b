// The dashboard's pages: tickets newest first with search, one ticket's thread, the error log.
// Every value from a log entry is attacker-controlled (it came in by mail) and goes through
// the escaping `html` tag; links are built only from ticket numbers checked to be digits.
import { dayChart } from "./chart";
import { firstLine, html, page, type Html } from "./html";
import type { Entry } from "./log-file";

/** What a page or a live update shows of one entry: plain strings, escaped where used. */
export interface EntryView {
  ticket: string | null;
  time: string;
  from: string;
  firstLine: string;
  text: string;
  subject: string;
  reply: boolean;
  /** "yes" | "no" | "unknown" (entries before the ticket ledger have no `issued`) */
  issued: string;
  reason: string;
}

export function viewOf(e: Entry): EntryView {
  const ticket = typeof e.ticket === "string" && /^\d{1,15}$/.test(e.ticket) ? e.ticket : null;
  return {
    ticket,
    time: typeof e.time === "string" ? e.time : "",
    // The admin's copy comes From the admin with Reply-To the person: show the person.
    from: String(e.replyTo ?? e.from ?? ""),
    firstLine: firstLine(e.text),
    text: String(e.text ?? ""),
    subject: String(e.subject ?? ""),
    reply: e.reply === true,
    issued: e.issued === true ? "yes" : e.issued === false ? "no" : "unknown",
    reason: String(e.reason ?? ""),
  };
}

export function nav(current: string): Html {
  const links = [["/", "Tickets"], ["/errors", "Error log"], ["/new", "New ticket"]] as const;
  return html`${links.map(([href, label]) => html`<a href="${href}"${href === current ? html` aria-current="page"` : ""}>${label}</a>`)}`;
}

function time(iso: string): Html {
  return html`<time datetime="${iso}">${iso.replace("T", " ").slice(0, 19)}</time>`;
}

function ticketRow(v: EntryView): Html {
  const number = v.ticket ? html`<a href="/tickets/${v.ticket}">#${v.ticket}</a>` : "—";
  return html`<tr><td>${number}${v.reply ? html` <span class="badge">reply</span>` : ""}</td><td>${time(v.time)}</td><td><bdi>${v.from}</bdi></td><td><bdi>${v.firstLine}</bdi></td><td class="issued-${v.issued}">${v.issued}</td></tr>`;
}

export interface ListModel {
  entries: Entry[];
  older: number | null;
  /** the cursor this page was read from (null: the newest) */
  before: number | null;
  query: string;
  perDay: Map<string, number>;
  indexReady: boolean;
  total: number;
  /** a search stopped at its byte budget: there may be more further back */
  partial: boolean;
}

export function dashboardPage(m: ListModel): string {
  const rows = m.entries.map((e) => ticketRow(viewOf(e)));
  const olderHref = m.older === null ? null : `/?${new URLSearchParams({ ...(m.query ? { q: m.query } : {}), before: String(m.older) })}`;
  // Only the first page of the unfiltered list grows live; a search or an older page stays put.
  const live = m.query === "" && m.before === null;
  const body = html`<h1>Tickets</h1>
<form method="get" action="/" role="search" class="search">
<label for="q">Search by ticket number, address or text</label>
<div class="row"><input id="q" name="q" type="search" value="${m.query}" maxlength="200" autocomplete="off"><button type="submit">Search</button></div>
</form>
${m.indexReady ? dayChart(m.perDay) : html`<p class="muted">Counting the log for the chart…</p>`}
<p class="muted" id="summary">${m.query ? html`Results for <q><bdi>${m.query}</bdi></q>, newest first.` : html`${m.indexReady ? `${m.total} entries` : "All entries"} in success_request.log, newest first; new ones appear as the collector logs them.`}</p>
<div class="scroll"><table id="tickets"${live ? html` data-live="tickets"` : ""}>
<caption class="visually-hidden">Logged tickets</caption>
<thead><tr><th scope="col">Ticket</th><th scope="col">Time</th><th scope="col">From</th><th scope="col">First line</th><th scope="col">Issued by this Mailer</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>
<p class="muted" id="empty"${m.entries.length ? html` hidden` : ""}>${m.query ? "Nothing found." : "No tickets logged yet."}</p>
${olderHref ? html`<p><a href="${olderHref}">${m.partial ? "Search further back" : "Older entries"} →</a></p>` : ""}`;
  return page({ title: "Tickets — Mailer", nav: nav("/"), body, scripts: ["/static/app.js"] });
}

export function threadPage(ticket: string, entries: Entry[]): string {
  const items = entries.map((e) => threadItem(viewOf(e)));
  const first = entries[0] ? viewOf(entries[0]) : null;
  const body = html`<p><a href="/">← all tickets</a></p>
<h1>Ticket #${ticket}</h1>
${first ? html`<p class="muted">From <bdi>${first.from}</bdi> · issued by this Mailer: <span class="issued-${first.issued}">${first.issued}</span></p>` : html`<p>No entry for this ticket in the log (yet).</p>`}
<ol class="thread" id="thread" data-live="thread" data-ticket="${ticket}">${items}</ol>`;
  return page({ title: `Ticket #${ticket} — Mailer`, nav: nav(""), body, scripts: ["/static/app.js"] });
}

function threadItem(v: EntryView): Html {
  return html`<li class="${v.reply ? "reply" : "request"}"><article><header><strong>${v.reply ? "Reply" : "Request"}</strong> · ${time(v.time)} · <bdi>${v.from}</bdi></header><p class="subject"><bdi>${v.subject}</bdi></p><pre class="mailtext">${v.text}</pre></article></li>`;
}

export function errorsPage(entries: Entry[], older: number | null): string {
  const rows = entries.map((e) => {
    const v = viewOf(e);
    return html`<tr><td>${time(v.time)}</td><td><bdi>${v.from}</bdi></td><td><bdi>${v.subject || "(no subject)"}</bdi></td><td>${v.reason}</td><td><bdi>${v.firstLine}</bdi></td></tr>`;
  });
  const body = html`<h1>Error log</h1>
<p class="muted">Mail in the admin's inbox that is not a ticket (error_request.log), with the reason, newest first.</p>
<div class="scroll"><table id="errors" data-live="errors">
<caption class="visually-hidden">Mail that was not a ticket</caption>
<thead><tr><th scope="col">Time</th><th scope="col">From</th><th scope="col">Subject</th><th scope="col">Reason</th><th scope="col">First line</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>
<p class="muted" id="empty"${entries.length ? html` hidden` : ""}>Nothing in the error log.</p>
${older !== null ? html`<p><a href="/errors?before=${older}">Older entries →</a></p>` : ""}`;
  return page({ title: "Error log — Mailer", nav: nav("/errors"), body, scripts: ["/static/app.js"] });
}
