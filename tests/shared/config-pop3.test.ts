import { expect, test } from "bun:test";
import { loadConfig } from "../../lib/shared/config";

const base = { EMAIL_LOGIN: "admin@mailer.test", EMAIL_PASSWORD: "pw", PERIOD_CHECK: "60", MAIL_PROTOCOL: "pop3" };

test("MAIL_PROTOCOL=pop3: POP3_HOST required instead of IMAP_HOST/IMAP_PORT; POP3_PORT by POP3_SECURE", () => {
  const missing = loadConfig(base, "collector");
  expect(missing.ok ? [] : missing.errors.map((e) => e.split(" ")[0])).toEqual(["POP3_HOST"]);
  const ports = (extra: Record<string, string>) => {
    const r = loadConfig({ ...base, POP3_HOST: "pop.example.com", ...extra }, "collector");
    if (!r.ok) throw new Error(r.errors.join("; "));
    return [r.config.mailProtocol, r.config.pop3.port, r.config.pop3.security];
  };
  expect(ports({})).toEqual(["pop3", 995, "auto"]);
  expect(ports({ POP3_SECURE: "tls" })).toEqual(["pop3", 995, "tls"]);
  expect(ports({ POP3_SECURE: "starttls" })).toEqual(["pop3", 110, "starttls"]);
  expect(ports({ POP3_PORT: "1110" })).toEqual(["pop3", 1110, "auto"]);
});

test("IMAP stays the default and keeps its required keys; POP3 keys are still checked when present", () => {
  const r = loadConfig({ ...base, MAIL_PROTOCOL: "", POP3_PORT: "0", POP3_SECURE: "yes" }, "collector");
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.errors.map((e) => e.split(/[ =]/)[0])).toEqual(["POP3_SECURE", "IMAP_HOST", "IMAP_PORT", "POP3_PORT"]);
  const bad = loadConfig({ ...base, MAIL_PROTOCOL: "POP" }, "collector");
  expect(bad.ok ? "" : bad.errors[0]).toBe('MAIL_PROTOCOL="POP" is not valid — use "imap" (default) or "pop3"');
});
