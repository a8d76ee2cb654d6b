import { expect, test } from "bun:test";
import { Csrf } from "../../lib/web/csrf";
import { basicAuthOk, CSP, EventHub, hostAllowed, safeEqual, sameOrigin, staticFile } from "../../lib/web/http";

const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` });

test("Host check on loopback: only the loopback names with the right port (no DNS rebinding)", () => {
  expect(hostAllowed("127.0.0.1:8026", "127.0.0.1", 8026)).toBe(true);
  expect(hostAllowed("localhost:8026", "127.0.0.1", 8026)).toBe(true);
  expect(hostAllowed("[::1]:8026", "::1", 8026)).toBe(true);
  expect(hostAllowed("evil.example:8026", "127.0.0.1", 8026)).toBe(false);
  expect(hostAllowed("127.0.0.1:9999", "127.0.0.1", 8026)).toBe(false);
  expect(hostAllowed(null, "127.0.0.1", 8026)).toBe(false);
  // bound elsewhere the password protects it; any name is fine
  expect(hostAllowed("mailer.example.org", "0.0.0.0", 8026)).toBe(true);
});

test("sameOrigin: Origin must be present and equal to this origin", () => {
  const req = (headers: Record<string, string>) => new Request("http://127.0.0.1:8026/new", { method: "POST", headers });
  expect(sameOrigin(req({ origin: "http://127.0.0.1:8026", host: "127.0.0.1:8026" }))).toBe(true);
  expect(sameOrigin(req({ origin: "http://evil.example", host: "127.0.0.1:8026" }))).toBe(false);
  expect(sameOrigin(req({ origin: "null", host: "127.0.0.1:8026" }))).toBe(false);
  expect(sameOrigin(req({ host: "127.0.0.1:8026" }))).toBe(false);
});

test("Basic auth: any user name, the password must match exactly", () => {
  const req = (headers: Record<string, string>) => new Request("http://x/", { headers });
  expect(basicAuthOk(req(basic("anyone", "s3cret pass:with colon")), "s3cret pass:with colon")).toBe(true);
  expect(basicAuthOk(req(basic("anyone", "s3cret")), "s3cret pass:with colon")).toBe(false);
  expect(basicAuthOk(req(basic("anyone", "")), "x")).toBe(false);
  expect(basicAuthOk(req({ authorization: "Bearer abc" }), "x")).toBe(false);
  expect(basicAuthOk(req({}), "x")).toBe(false);
  expect(safeEqual("a", "a")).toBe(true);
  expect(safeEqual("a", "ab")).toBe(false);
});

test("CSRF: a token works only with the cookie it was made for", () => {
  const csrf = new Csrf();
  const first = csrf.issue(new Request("http://127.0.0.1/new"));
  expect(first.setCookie).toMatch(/^mailer_csrf=[0-9a-f]{48}; Path=\/; HttpOnly; SameSite=Strict$/);
  const cookie = first.setCookie!.split(";")[0]!;
  const withCookie = new Request("http://127.0.0.1/new", { headers: { cookie } });
  const again = csrf.issue(withCookie);
  expect(again.setCookie).toBeNull();
  expect(again.token).toBe(first.token);
  expect(csrf.check(withCookie, first.token)).toBe(true);
  expect(csrf.check(withCookie, first.token.replace(/.$/, (c) => (c === "0" ? "1" : "0")))).toBe(false);
  expect(csrf.check(new Request("http://127.0.0.1/new"), first.token)).toBe(false); // no cookie
  expect(csrf.check(new Request("http://127.0.0.1/new", { headers: { cookie: `mailer_csrf=${"a".repeat(48)}` } }), first.token)).toBe(false);
  expect(new Csrf().check(withCookie, first.token)).toBe(false); // another process's key
});

test("the CSP allows no inline script or style, and no remote anything", () => {
  expect(CSP).toContain("script-src 'self'");
  expect(CSP).toContain("default-src 'none'");
  expect(CSP).not.toContain("unsafe-inline");
  expect(CSP).not.toMatch(/https?:/);
});

test("static files: only /static/<name>.css|js, no paths outside", async () => {
  expect((await staticFile("/static/app.js"))?.headers.get("content-type")).toContain("javascript");
  expect(await staticFile("/static/../html.ts")).toBeNull();
  expect(await staticFile("/static/nope.js")).toBeNull();
});

test("EventHub: every open stream gets each event as an SSE frame", async () => {
  const hub = new EventHub();
  const response = hub.open(new Request("http://x/events"));
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  expect(decoder.decode((await reader.read()).value)).toBe(": connected\n\n");
  hub.send("ticket", { ticket: "10001", text: "a\nb" });
  expect(decoder.decode((await reader.read()).value)).toBe(`event: ticket\ndata: {"ticket":"10001","text":"a\\nb"}\n\n`);
  expect(hub.size).toBe(1);
  hub.close();
  expect((await reader.read()).done).toBe(true);
});
