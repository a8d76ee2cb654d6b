// In-memory MailSender for unit tests: records what was sent, and answers each message with
// whatever the test's `decide` returns (success by default), optionally after a delay.
import type { MailSender, OutgoingMail, SendResult } from "../../lib/server/smtp";

export class FakeSender implements MailSender {
  readonly sent: OutgoingMail[] = [];
  readonly attempts: OutgoingMail[] = [];
  closed = false;
  constructor(
    public decide: (mail: OutgoingMail, attempt: number) => SendResult | Promise<SendResult> = () => ({ ok: true, messageId: "<fake@test>", response: "250 OK" }),
    public delayMs: (mail: OutgoingMail) => number = () => 0,
  ) {}

  async send(mail: OutgoingMail): Promise<SendResult> {
    this.attempts.push(mail);
    const attempt = this.attempts.length;
    const delay = this.delayMs(mail);
    if (delay > 0) await Bun.sleep(delay);
    const result = await this.decide(mail, attempt);
    if (result.ok) this.sent.push(mail);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export const refused = (reason = "550 5.1.1 user unknown", permanent = true): SendResult => ({ ok: false, kind: "recipient", error: reason, permanent });
export const down = (reason = "cannot connect to the SMTP server at 127.0.0.1:1: connection refused"): SendResult => ({ ok: false, kind: "connect", error: reason, permanent: false });
