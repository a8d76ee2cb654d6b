// SMTP_TIMEOUT is a bound even when the SMTP server trickles (issue #13): a server that answers
// one byte per second and never ends its line is never "silent", so nodemailer's socket timeout
// never fires. Against the real server.ts: the person's reply comes within the bound, a hung
// admin copy is queued instead of holding the reply, and SIGTERM ends within 2 × SMTP_TIMEOUT + 5 s.
// The deadlines below are the documented bounds (with a margin), not measurements of speed.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { requestTicket, type TicketOutcome } from "../../lib/client/connection";
import { ADMIN, startServer, until } from "../helpers/hardening";
import { trickleSmtpFor } from "../helpers/trickle-smtp";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const T = 2; // SMTP_TIMEOUT, seconds
const MARGIN_MS = 3000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const trickling = () => trickleSmtpFor(cleanups);

/** One request with the client's own deadline: past it the outcome is "unreachable". */
async function timed(port: number, email: string, deadlineMs: number): Promise<{ outcome: TicketOutcome; ms: number }> {
  const started = performance.now();
  const outcome = await requestTicket("127.0.0.1", port, email, "trickle", deadlineMs);
  return { outcome, ms: Math.round(performance.now() - started) };
}

test("the person's own mail trickles (RCPT reply never ends): MAIL_FAILED within the bound, the log says SMTP_TIMEOUT", async () => {
  const smtp = await trickling();
  smtp.trickle((step, rcpt) => step === "RCPT" && rcpt === "slow@example.com");
  const srv = await startServer(cleanups, smtp.port, "pw", { SMTP_TIMEOUT: String(T) });
  // warm connection, then the trickle: before the fix it held the request for as long as the server trickled
  expect((await timed(srv.port, "fast@example.com", 10_000)).outcome).toMatchObject({ reply: { status: "OK" } });
  const { outcome, ms } = await timed(srv.port, "slow@example.com", 3 * T * 1000 + MARGIN_MS);
  console.log(`RCPT trickling, SMTP_TIMEOUT=${T}: MAIL_FAILED after ${ms} ms`);
  expect(outcome).toMatchObject({ kind: "reply", reply: { code: "MAIL_FAILED", error: expect.stringContaining("not available right now") } });
  expect(srv.output()).toContain(`did not answer within SMTP_TIMEOUT=${T} s`);
  // the stalled connection was ended, not reused: the next ticket goes through
  expect((await timed(srv.port, "fast2@example.com", 10_000)).outcome).toMatchObject({ reply: { status: "OK" } });
}, 30_000);

test("only the admin copy's DATA trickles: the person gets OK (admin=queued) within the bound; SIGTERM ends within 2 × SMTP_TIMEOUT + 5 s", async () => {
  const smtp = await trickling();
  smtp.trickle((step, rcpt) => step === "DOT" && rcpt === ADMIN);
  const srv = await startServer(cleanups, smtp.port, "pw", { SMTP_TIMEOUT: String(T), OUTBOX_RETRY: "600" });
  const { outcome, ms } = await timed(srv.port, "person@example.com", 3 * T * 1000 + MARGIN_MS);
  console.log(`admin copy's DATA trickling, SMTP_TIMEOUT=${T}: OK after ${ms} ms`);
  expect(outcome).toMatchObject({ kind: "reply", reply: { status: "OK" } });
  expect(smtp.accepted).toContain("person@example.com");
  await until(() => /OK ticket=\d+ admin=queued/.test(srv.output()), 5000, "the request line", srv.output);

  // a second admin copy is hung again when the stop comes
  const second = timed(srv.port, "person2@example.com", 3 * T * 1000 + MARGIN_MS);
  await until(() => smtp.accepted.includes("person2@example.com"), 5000, "the second person's mail");
  const stopping = performance.now();
  srv.proc.kill("SIGTERM");
  const bound = (2 * T + 5) * 1000;
  const code = await Promise.race([srv.proc.exited, Bun.sleep(bound + MARGIN_MS).then(() => "still running")]);
  const stopMs = Math.round(performance.now() - stopping);
  console.log(`SIGTERM with an admin copy trickling, SMTP_TIMEOUT=${T}: exited ${code} after ${stopMs} ms (bound ${bound} ms)`);
  expect(code).toBe(0);
  expect((await second).outcome).toMatchObject({ kind: "reply", reply: { status: "OK" } });
  expect(srv.output()).toContain("stopped");
}, 40_000);
