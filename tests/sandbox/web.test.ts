// The sandbox's web inbox and its JSON API: every mail kept (bounded), listed newest first,
// one mail with headers, text, HTML and raw source; the HTML served under a CSP that runs
// nothing and loads nothing; clearing only from this origin; new mail as server-sent events.
import { afterEach, expect, test } from "bun:test";
import nodemailer from "nodemailer";
import { startSandbox } from "../../lib/sandbox";
import { MailStore } from "../../lib/sandbox/store";
import { startSandboxWeb } from "../../lib/sandbox/web";
import { loadConfig, type Config } from "../../lib/shared/config";
import { sandboxEnv, tempDir } from "../helpers/env";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const raw = (subject: string, body = "Hello", extra = "") =>
  Buffer.from(`From: Ivan <ivan@example.com>\r\nTo: admin@mailer.test\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n${extra}\r\n${body}\r\n`);
const envelope = { mailFrom: "ivan@example.com", rcptTo: ["admin@mailer.test"] };

function webOn(store: MailStore) {
  const web = startSandboxWeb(store, { port: 0 });
  cleanups.push(() => web.stop());
  return web.url.replace(/\/$/, "");
}

test("the store keeps the newest messages within its count and byte limits", async () => {
  const store = new MailStore({ messages: 3, bytes: 9_000 });
  for (let i = 1; i <= 5; i++) await store.add(raw(`m${i}`), envelope);
  expect(store.list().map((m) => m.subject)).toEqual(["m5", "m4", "m3"]);
  await store.add(raw("big", "x".repeat(9_000)), envelope); // alone over the byte limit: still the newest is kept
  expect(store.list().map((m) => m.subject)).toEqual(["big"]);
  expect(store.get(1)).toBeUndefined();
});

test("API: list newest first, one message with headers, text, html and raw; 404 for an unknown id", async () => {
  const store = new MailStore();
  await store.add(raw("first"), envelope);
  const html = `--b\r\nContent-Type: text/plain\r\n\r\nplain part\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html <b>part</b></p>\r\n--b--`;
  await store.add(raw("=?UTF-8?B?0J/RgNC40LLQtdGC?=", html, `Content-Type: multipart/alternative; boundary=b\r\n`), envelope);
  const base = webOn(store);
  const list = (await (await fetch(`${base}/api/messages`)).json()) as any[];
  expect(list.map((m: { subject: string }) => m.subject)).toEqual(["Привет", "first"]);
  expect(list[0]).toMatchObject({ id: 2, from: `"Ivan" <ivan@example.com>`, to: "admin@mailer.test", rcptTo: ["admin@mailer.test"] });
  const one = (await (await fetch(`${base}/api/messages/2`)).json()) as any;
  expect(one.text.trim()).toBe("plain part");
  expect(one.html).toContain("<b>part</b>");
  expect(one.raw).toContain("Subject: =?UTF-8?B?");
  expect(one.headers).toContainEqual({ name: "Subject", value: "=?UTF-8?B?0J/RgNC40LLQtdGC?=" });
  expect((await fetch(`${base}/api/messages/99`)).status).toBe(404);
});

test("a mail's HTML is served under a CSP that forbids scripts and remote loads; the page frames it sandboxed", async () => {
  const store = new MailStore();
  await store.add(raw("x", `<script>alert(1)</script><img src="http://tracker.example/p.gif">`, "Content-Type: text/html\r\n"), envelope);
  const base = webOn(store);
  const frame = await fetch(`${base}/messages/1/html`);
  const csp = frame.headers.get("content-security-policy")!;
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("sandbox");
  expect(csp).not.toContain("script-src");
  expect(csp).toMatch(/img-src data:;/);
  const page = await (await fetch(`${base}/messages/1`)).text();
  expect(page).toContain(`<iframe class="mailhtml" sandbox="" src="/messages/1/html"`);
  expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;"); // the raw source, as text
  expect(page).not.toContain("<script>alert");
});

test("clearing: DELETE /api/messages (not cross-origin) and the button's POST from this origin only", async () => {
  const store = new MailStore();
  await store.add(raw("a"), envelope);
  const base = webOn(store);
  expect((await fetch(`${base}/clear`, { method: "POST", headers: { origin: "http://evil.example" } })).status).toBe(403);
  expect((await fetch(`${base}/clear`, { method: "POST" })).status).toBe(403);
  expect((await fetch(`${base}/api/messages`, { method: "DELETE", headers: { origin: "http://evil.example" } })).status).toBe(403);
  expect(store.size).toBe(1);
  const post = await fetch(`${base}/clear`, { method: "POST", headers: { origin: base }, redirect: "manual" });
  expect(post.status).toBe(303);
  expect(store.size).toBe(0);
  await store.add(raw("b"), envelope);
  expect(await (await fetch(`${base}/api/messages`, { method: "DELETE" })).json()).toEqual({ cleared: true });
  expect(await (await fetch(`${base}/api/messages`)).json()).toEqual([]);
  expect((await fetch(`${base}/`, { headers: { host: "rebound.example" } })).status).toBe(421);
});

test("startSandbox with webPort: mail sent over SMTP appears in the API and as an event", async () => {
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  const env = sandboxEnv(dir.path);
  const config = (loadConfig(env, "sandbox") as { ok: true; config: Config }).config;
  const sandbox = await startSandbox(config, { onOtherMail() {} }, { webPort: Number(env.SANDBOX_WEB_PORT) });
  cleanups.push(() => sandbox.close());
  const base = sandbox.web!.url.replace(/\/$/, "");
  const events = await fetch(`${base}/api/events`);
  const reader = events.body!.getReader();
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: sandbox.smtpPort, secure: false, auth: { user: config.emailLogin, pass: config.emailPassword } });
  await transport.sendMail({ from: "ivan@example.com", to: ["someone@example.com", config.adminEmail], subject: "via smtp", text: "body" });
  transport.close();
  let seen = "";
  while (!seen.includes("event: message")) seen += new TextDecoder().decode((await reader.read()).value);
  expect(seen).toContain('"subject":"via smtp"');
  await reader.cancel();
  const list = (await (await fetch(`${base}/api/messages`)).json()) as any[];
  expect(list).toHaveLength(1);
  expect(list[0].rcptTo).toEqual(["someone@example.com", config.adminEmail]);
});
