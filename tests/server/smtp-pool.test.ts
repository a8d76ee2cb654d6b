// The parts of nodemailer's pool we drive ourselves (lib/server/smtp-pool.ts): a deadline per SMTP
// step, enforced even against a server that trickles, and connections renewed in the background.
import { afterEach, expect, test } from "bun:test";
import { NodemailerSender, POOL_MAX_MESSAGES, type OutgoingMail } from "../../lib/server/smtp";
import { trickleSmtpFor } from "../helpers/trickle-smtp";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const trickling = () => trickleSmtpFor(cleanups);

function sender(port: number, o: { poolSize?: number; timeoutSec?: number } = {}): NodemailerSender {
  const snd = new NodemailerSender({
    smtp: { host: "127.0.0.1", port, security: "auto" }, login: "", password: "", poolSize: o.poolSize ?? 1, timeoutSec: o.timeoutSec ?? 2, redact: (t) => t,
  });
  cleanups.push(() => snd.close({ force: true }));
  return snd;
}

const mail = (to: string): OutgoingMail => ({ from: "admin@mailer.test", to, subject: "[Ticket #10001] Mailer", text: "hi" });

test("a step whose reply trickles (one byte a second, never a line end) fails as a timeout: for every step, on a new and on a pooled connection", async () => {
  const smtp = await trickling();
  const snd = sender(smtp.port, { timeoutSec: 2 }); // longer than the trickle's 1 s between bytes: silence never lasts that long
  for (const step of ["greeting", "EHLO", "MAIL", "RCPT", "DATA", "DOT"] as const) {
    smtp.trickle((s, rcpt) => s === step && (step === "greeting" || step === "EHLO" || step === "MAIL" || rcpt === "slow@example.com"));
    // a pooled connection for the later steps: it must be ended, not just left behind
    if (step !== "greeting" && step !== "EHLO" && step !== "MAIL") expect((await snd.send(mail("fast@example.com"))).ok).toBe(true);
    const r = await snd.send(mail("slow@example.com"));
    expect({ step, r }).toMatchObject({ step, r: { ok: false, kind: "timeout", error: expect.stringContaining("did not answer within SMTP_TIMEOUT=2 s") } });
    smtp.trickle(() => false);
  }
  expect((await snd.send(mail("after@example.com"))).ok).toBe(true);
  expect(smtp.accepted.at(-1)).toBe("after@example.com");
}, 30_000);

test(`a connection is renewed in the background after ${POOL_MAX_MESSAGES} messages: no message waits for a new connection once the pool is warm`, async () => {
  const smtp = await trickling();
  const snd = sender(smtp.port, { poolSize: 1 });
  const N = 3 * POOL_MAX_MESSAGES + 50;
  const startedAt: number[] = [];
  for (let i = 0; i < N; i++) {
    startedAt.push(performance.now());
    expect((await snd.send(mail(`u${i}@example.com`))).ok).toBe(true);
    if (i % 100 === 99) await Bun.sleep(50); // a pause now and then, as real traffic has
  }
  // message i waited for a new connection if its connection was opened after it was handed over
  const onNew = smtp.acceptedOn.map((c, i) => (smtp.openedAt[c]! > startedAt[i]! ? i : -1)).filter((i) => i > 0);
  expect(onNew).toEqual([]); // before: [100, 200, 300]
  expect(smtp.connections).toBeGreaterThanOrEqual(4); // it was renewed (not kept forever)
  expect(snd.warm.warmed).toBeGreaterThanOrEqual(3);
}, 30_000);
