// The dashboard and form over HTTP (no browser): pages, guards, the form's round trip to a
// fake Mailer server on the wire protocol, live events as the log grows.
import { afterEach, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "../../lib/shared/config";
import { startWebServer, type WebServer } from "../../lib/web/server";
import { verifyVia } from "../../lib/wire/via";
import { freePort, tempDir } from "../helpers/env";

const SECRET = "test-frontend-secret-0123456789";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A stand-in for server.ts: answers each request line; "refused@…" gets a field error. */
function fakeServer() {
  const lines: Record<string, unknown>[] = [];
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, chunk) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) {
          const request = JSON.parse(line);
          lines.push(request);
          const reply = request.email.startsWith("refused@")
            ? { status: "ERROR", code: "MAIL_FAILED", field: "email", error: "the SMTP server refused the address <x>" }
            : { status: "OK", ticket: "10042" };
          socket.write(JSON.stringify(reply) + "\n");
        }
      },
    },
  });
  cleanups.push(() => server.stop(true));
  return { port: server.port, lines };
}

function start(extra: Record<string, string> = {}): { web: WebServer; base: string; dir: string; wire: ReturnType<typeof fakeServer> } {
  const dir = tempDir("mailer-web-");
  cleanups.push(dir.cleanup);
  mkdirSync(join(dir.path, "logs"));
  const wire = fakeServer();
  const env = { LOG_DIR: join(dir.path, "logs"), WEB_PORT: String(freePort()), SERVER_PORT: String(wire.port), WEB_FRONTEND_SECRET: SECRET, ...extra };
  const config = (loadConfig(env, "web") as { ok: true; config: Config }).config;
  const web = startWebServer(config, { pollMs: 50, timeoutMs: 5000 });
  cleanups.push(() => web.stop());
  return { web, base: web.url.replace(/\/$/, ""), dir: join(dir.path, "logs"), wire };
}

const line = (e: Record<string, unknown>) => JSON.stringify(e) + "\n";

test("dashboard: newest first, attacker text escaped, issued yes/no/unknown, thread and error log", async () => {
  const { base, dir } = start();
  writeFileSync(join(dir, "success_request.log"),
    line({ time: "2026-11-30T10:00:00Z", ticket: "10001", text: "<script>alert(1)</script>\nsecond", from: "admin@mailer.test", replyTo: "ivan@example.com", subject: "[Ticket #10001] Mailer", issued: true }) +
    line({ time: "2026-11-30T11:00:00Z", ticket: "10002", text: "hi \u202Eexe.txt", from: "x@example.com", subject: "[Ticket #10002] Mailer", issued: false }) +
    line({ time: "2026-11-30T12:00:00Z", ticket: "10001", reply: true, text: "a reply", from: "ivan@example.com", subject: "Re: [Ticket #10001] Mailer" }));
  writeFileSync(join(dir, "error_request.log"), line({ time: "2026-11-30T09:00:00Z", text: "spam", from: "s@example.com", subject: "<b>buy</b>", reason: "the subject is not a ticket subject" }));

  const res = await fetch(`${base}/`);
  expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  const page = await res.text();
  expect(page).not.toContain("<script>alert");
  expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  expect(page).toContain(`<span class="ctl" title="invisible character">U+202E</span>`);
  expect(page.indexOf("a reply")).toBeLessThan(page.indexOf("#10002"));
  expect(page).toContain("ivan@example.com"); // Reply-To, not the admin's From
  expect(page).toContain(`class="issued-yes">yes`);
  expect(page).toContain(`class="issued-no">no`);
  expect(page).toContain(`class="issued-unknown">unknown`);
  expect(page).toContain("<svg");

  const thread = await (await fetch(`${base}/tickets/10001`)).text();
  expect(thread.match(/<li class="(request|reply)"/g)).toEqual([`<li class="request"`, `<li class="reply"`]);
  const errors = await (await fetch(`${base}/errors`)).text();
  expect(errors).toContain("the subject is not a ticket subject");
  expect(errors).toContain("&lt;b&gt;buy&lt;/b&gt;");
  expect((await fetch(`${base}/tickets/abc`)).status).toBe(404);
  expect((await fetch(`${base}/static/app.js`)).status).toBe(200);
});

test("search by number, address and text; a search for markup finds it and shows it escaped", async () => {
  const { base, dir } = start();
  writeFileSync(join(dir, "success_request.log"),
    line({ time: "2026-11-30T10:00:00Z", ticket: "10001", text: "printer jam", from: "a@example.com" }) +
    line({ time: "2026-11-30T10:01:00Z", ticket: "10002", text: 'say "<hello>"', from: "b@example.com" }));
  const rows = async (q: string) => ((await (await fetch(`${base}/?q=${encodeURIComponent(q)}`)).text()).match(/href="\/tickets\/(\d+)"/g) ?? []).length;
  expect(await rows("10001")).toBe(1);
  expect(await rows("#10002")).toBe(1);
  expect(await rows("A@EXAMPLE.com")).toBe(1);
  expect(await rows("PRINTER")).toBe(1);
  expect(await rows('"<hello>"')).toBe(1);
  expect(await rows("nothing")).toBe(0);
  expect(await (await fetch(`${base}/?q=${encodeURIComponent("<img src=x>")}`)).text()).toContain("&lt;img src=x&gt;");
});

test("form: validation messages next to the fields; success shows the ticket; the browser's address travels signed", async () => {
  const { base, wire } = start();
  const get = await fetch(`${base}/new`);
  const cookie = get.headers.get("set-cookie")!.split(";")[0]!;
  const token = /name="csrf" value="([0-9a-f]+)"/.exec(await get.text())![1]!;
  const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${base}/new`, { method: "POST", body: new URLSearchParams(fields), headers: { origin: base, cookie, ...headers } });

  const invalid = await post({ csrf: token, email: "ivan@", message: "" });
  expect(invalid.status).toBe(422);
  const invalidPage = await invalid.text();
  expect(invalidPage).toContain(`<p class="field-error" id="email-error">email address &quot;ivan@&quot; has nothing after the @`);
  expect(invalidPage).toMatch(/<p class="field-error" id="message-error">message is empty/);
  expect(invalidPage).toContain(`aria-invalid="true" aria-describedby="email-error email-hint"`);
  expect(wire.lines).toEqual([]); // nothing sent: the same rules as the server, checked here first

  const ok = await post({ csrf: token, email: "ivan@example.com", message: "Hello <b>there</b>" });
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain(`<strong id="ticket-number">10042</strong>`);
  expect(wire.lines).toHaveLength(1);
  const sent = wire.lines[0]! as { email: string; message: string; via: unknown };
  expect(sent).toMatchObject({ email: "ivan@example.com", message: "Hello <b>there</b>" });
  expect(verifyVia(SECRET, sent.via, sent.email, sent.message)).toMatchObject({ ok: true, client: expect.stringMatching(/127\.0\.0\.1/) });

  const refused = await post({ csrf: token, email: "refused@example.com", message: "x" });
  expect(refused.status).toBe(502);
  expect(await refused.text()).toContain(`id="email-error">the SMTP server refused the address &lt;x&gt;`);
});

test("form: the server not running is said at the top of the form, what was typed is kept", async () => {
  const { base } = start({ SERVER_PORT: String(freePort()) });
  const get = await fetch(`${base}/new`);
  const cookie = get.headers.get("set-cookie")!.split(";")[0]!;
  const token = /name="csrf" value="([0-9a-f]+)"/.exec(await get.text())![1]!;
  const res = await fetch(`${base}/new`, { method: "POST", body: new URLSearchParams({ csrf: token, email: "ivan@example.com", message: "kept" }), headers: { origin: base, cookie } });
  expect(res.status).toBe(503);
  const page = await res.text();
  expect(page).toMatch(/<p class="error" role="alert" id="form-error">cannot reach the Mailer server at 127\.0\.0\.1:\d+ \(connection refused\)/);
  expect(page).toContain(">kept</textarea>");
});

test("form: a post from another origin, without Origin, or without a valid CSRF token sends nothing", async () => {
  const { base, wire } = start();
  const get = await fetch(`${base}/new`);
  const cookie = get.headers.get("set-cookie")!.split(";")[0]!;
  const token = /name="csrf" value="([0-9a-f]+)"/.exec(await get.text())![1]!;
  const body = (csrf: string) => new URLSearchParams({ csrf, email: "ivan@example.com", message: "hi" });
  expect((await fetch(`${base}/new`, { method: "POST", body: body(token), headers: { origin: "http://evil.example", cookie } })).status).toBe(403);
  expect((await fetch(`${base}/new`, { method: "POST", body: body(token), headers: { cookie } })).status).toBe(403);
  expect((await fetch(`${base}/new`, { method: "POST", body: body("0".repeat(64)), headers: { origin: base, cookie } })).status).toBe(403);
  expect((await fetch(`${base}/new`, { method: "POST", body: body(token), headers: { origin: base } })).status).toBe(403); // no cookie
  expect(wire.lines).toEqual([]);
  expect((await fetch(`${base}/`, { headers: { host: "rebound.example:80" } })).status).toBe(421);
});

test("WEB_PASSWORD: every page, the static files and the event stream need it", async () => {
  const { base } = start({ WEB_PASSWORD: "correct horse" });
  for (const path of ["/", "/new", "/errors", "/events", "/static/app.js"]) {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("Basic");
  }
  const auth = (p: string) => ({ authorization: `Basic ${Buffer.from(`x:${p}`).toString("base64")}` });
  expect((await fetch(`${base}/`, { headers: auth("wrong") })).status).toBe(401);
  expect((await fetch(`${base}/`, { headers: auth("correct horse") })).status).toBe(200);
});

test("live: an entry the collector appends is pushed to open event streams", async () => {
  const { base, dir, web } = start();
  const path = join(dir, "success_request.log");
  writeFileSync(path, line({ time: "2026-11-30T10:00:00Z", ticket: "10001", text: "old" }));
  while (web.success.count < 1) await Bun.sleep(10); // the old entry is indexed (and was live news then)
  const res = await fetch(`${base}/events`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let seen = decoder.decode((await reader.read()).value);
  appendFileSync(path, line({ time: "2026-11-30T10:05:00Z", ticket: "10002", text: "<new> one", replyTo: "p@example.com" }));
  while (!seen.includes("event: ticket")) seen += decoder.decode((await reader.read()).value);
  const data = JSON.parse(/data: (.*)\n/.exec(seen)![1]!);
  expect(data).toMatchObject({ ticket: "10002", from: "p@example.com", firstLine: "<new> one", issued: "unknown", reply: false });
  await reader.cancel();
});
