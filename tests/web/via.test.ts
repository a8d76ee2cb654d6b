import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { Outbox } from "../../lib/server/outbox";
import { RateLimiter } from "../../lib/server/rate-limit";
import { TicketService } from "../../lib/server/ticket-service";
import { openStore } from "../../lib/store";
import { parseRequest, encodeRequest } from "../../lib/wire/protocol";
import { requestClient, signVia, verifyVia, VIA_MAX_AGE_SEC } from "../../lib/wire/via";
import { FakeSender } from "../fakes/fake-sender";
import { tempDir } from "../helpers/env";

const SECRET = "a-shared-secret-of-some-length-42";
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test("a signed via verifies only with the same secret, the same content and in time", () => {
  const now = Date.now();
  const via = signVia(SECRET, "203.0.113.7", "a@example.com", "hello", now);
  expect(verifyVia(SECRET, via, "a@example.com", "hello", now)).toEqual({ ok: true, client: "203.0.113.7" });
  expect(verifyVia("another-secret-entirely-000", via, "a@example.com", "hello", now)).toMatchObject({ ok: false, error: expect.stringContaining("WEB_FRONTEND_SECRET") });
  expect(verifyVia(SECRET, via, "a@example.com", "other text", now).ok).toBe(false);
  expect(verifyVia(SECRET, { ...via, client: "198.51.100.1" }, "a@example.com", "hello", now).ok).toBe(false);
  expect(verifyVia(SECRET, via, "a@example.com", "hello", now + (VIA_MAX_AGE_SEC + 5) * 1000)).toMatchObject({ ok: false, error: expect.stringContaining("clocks") });
  expect(verifyVia(SECRET, { ...via, client: "<script>" }, "a@example.com", "hello", now).ok).toBe(false);
  expect(verifyVia(SECRET, "nope", "a@example.com", "hello", now).ok).toBe(false);
});

test("the wire keeps via through encode and parse; without it requests look as before", () => {
  const via = signVia(SECRET, "::1", "a@example.com", "hi");
  const parsed = parseRequest(encodeRequest({ email: "a@example.com", message: "hi", via }).trim());
  expect(parsed).toEqual({ ok: true, request: { email: "a@example.com", message: "hi", via } });
  expect(encodeRequest({ email: "a@example.com", message: "hi" })).toBe('{"email":"a@example.com","message":"hi"}\n');
});

test("requestClient: the peer unless the server has the secret and via is valid; a bad via is refused", () => {
  const via = signVia(SECRET, "203.0.113.7", "a@example.com", "hi");
  const request = { email: "a@example.com", message: "hi", via };
  expect(requestClient(request, "127.0.0.1", SECRET)).toEqual({ ok: true, client: "203.0.113.7" });
  expect(requestClient(request, "127.0.0.1", null)).toEqual({ ok: true, client: "127.0.0.1" }); // no secret: via ignored
  expect(requestClient({ email: "a@example.com", message: "hi" }, "127.0.0.1", SECRET)).toEqual({ ok: true, client: "127.0.0.1" });
  expect(requestClient({ ...request, message: "changed" }, "127.0.0.1", SECRET).ok).toBe(false);
});

test("per-client rate limit binds each browser behind the form, not the web host as a whole", async () => {
  const dir = tempDir();
  const sender = new FakeSender();
  const store = await openStore({ stateDir: dir.path, logDir: join(dir.path, "logs") });
  const outbox = new Outbox(store.tickets, sender, { info: () => {}, error: () => {} }, { claimMs: 60_000, retrySeconds: 30 });
  cleanups.push(dir.cleanup, () => store.close(), () => outbox.stop());
  const service = new TicketService({
    adminEmail: "admin@mailer.test", maxMessageChars: 100, sender, outbox,
    perClient: new RateLimiter(1, 60_000), perRecipient: new RateLimiter(0, 3_600_000), logError: () => {}, frontendSecret: SECRET,
  });
  const line = (browser: string, email: string) => encodeRequest({ email, message: "hi", via: signVia(SECRET, browser, email, "hi") }).trim();
  const webHost = "127.0.0.1";
  expect((await service.handle(line("203.0.113.7", "a@example.com"), webHost)).reply.status).toBe("OK");
  expect((await service.handle(line("203.0.113.8", "b@example.com"), webHost)).reply.status).toBe("OK"); // another person: own limit
  const again = (await service.handle(line("203.0.113.7", "c@example.com"), webHost)).reply;
  expect(again).toMatchObject({ status: "ERROR", code: "RATE_LIMITED" });
  expect((again as { error: string }).error).toContain("203.0.113.7");
  const forged = (await service.handle(JSON.stringify({ email: "d@example.com", message: "hi", via: { client: "203.0.113.9", time: Math.floor(Date.now() / 1000), token: "0".repeat(64) } }), webHost)).reply;
  expect(forged).toMatchObject({ status: "ERROR", code: "BAD_REQUEST" });
  expect(sender.attempts.length).toBeGreaterThan(0);
});
