// Live updates for the dashboard and the sandbox inbox: server-sent events, rows built with
// textContent only (never innerHTML), invisible characters shown as "U+202E" like the server
// does. Without JavaScript every page still works; it just does not update by itself.
"use strict";
(() => {
  const INVISIBLE = /([\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u0000-\u0008\u000b-\u001f\u007f-\u009f])/u;

  function text(value) {
    const frag = document.createDocumentFragment();
    String(value ?? "").split(INVISIBLE).forEach((part, i) => {
      if (i % 2 === 1) {
        const mark = el("span", { className: "ctl", title: "invisible character" }, "U+" + part.codePointAt(0).toString(16).toUpperCase().padStart(4, "0"));
        frag.append(mark);
      } else if (part) frag.append(document.createTextNode(part));
    });
    return frag;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  const bdi = (value) => el("bdi", null, text(value));
  const time = (iso) => el("time", { dateTime: String(iso) }, String(iso).replace("T", " ").slice(0, 19));
  const td = (...children) => el("td", null, ...children);
  const digits = (value) => /^\d{1,15}$/.test(String(value)) ? String(value) : null;

  function link(path, ...children) {
    const a = el("a", null, ...children);
    a.setAttribute("href", path);
    return a;
  }

  function prependRow(tbody, row) {
    row.classList.add("new");
    tbody.prepend(row);
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = true;
  }

  const handlers = {
    inbox: (table) => ({
      message(m) {
        const id = digits(m.id);
        if (!id) return;
        prependRow(table.tBodies[0], el("tr", null, td(time(m.time)), td(bdi(m.from)), td(bdi(m.to || (m.rcptTo || []).join(", "))), td(link("/messages/" + id, bdi(m.subject || "(no subject)")))));
      },
      cleared() {
        table.tBodies[0].replaceChildren();
        const empty = document.getElementById("empty");
        if (empty) empty.hidden = false;
      },
    }),
    tickets: (table) => ({
      ticket(v) {
        const n = digits(v.ticket);
        const number = n ? link("/tickets/" + n, "#" + n) : document.createTextNode("—");
        const cell = td(number);
        if (v.reply) cell.append(" ", el("span", { className: "badge" }, "reply"));
        const issued = el("td", { className: "issued-" + (["yes", "no"].includes(v.issued) ? v.issued : "unknown") }, String(v.issued));
        prependRow(table.tBodies[0], el("tr", null, cell, td(time(v.time)), td(bdi(v.from)), td(bdi(v.firstLine)), issued));
      },
    }),
    thread: (list) => ({
      ticket(v) {
        if (digits(v.ticket) !== list.dataset.ticket) return;
        const header = el("header", null, el("strong", null, v.reply ? "Reply" : "Request"), " · ", time(v.time), " · ", bdi(v.from));
        const item = el("li", { className: v.reply ? "reply new" : "request new" }, el("article", null, header, el("p", { className: "subject" }, bdi(v.subject)), el("pre", { className: "mailtext" }, text(v.text))));
        list.append(item);
      },
    }),
    errors: (table) => ({
      error(v) {
        prependRow(table.tBodies[0], el("tr", null, td(time(v.time)), td(bdi(v.from)), td(bdi(v.subject || "(no subject)")), td(text(v.reason)), td(bdi(v.firstLine))));
      },
    }),
  };

  const target = document.querySelector("[data-live]");
  const make = target && handlers[target.dataset.live];
  if (!make || typeof EventSource === "undefined") return;
  const on = make(target);
  const source = new EventSource(target.dataset.live === "inbox" ? "/api/events" : "/events");
  source.addEventListener("open", () => { document.body.dataset.live = "connected"; });
  source.addEventListener("error", () => { document.body.dataset.live = "reconnecting"; });
  for (const [name, handle] of Object.entries(on)) {
    source.addEventListener(name, (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch (err) {
        console.error("live update skipped:", err);
      }
    });
  }
})();
