import { describe, expect, test } from "bun:test";
import { loadConfig, usesImplicitTls } from "../../lib/shared/config";

const serverEnv = { EMAIL_LOGIN: "admin@mailer.test", EMAIL_PASSWORD: "pw-s3cret", SMTP_HOST: "127.0.0.1", SMTP_PORT: "2525" };

describe("configuration", () => {
  test("defaults from DESIGN.md", () => {
    const r = loadConfig(serverEnv, "server");
    if (!r.ok) throw new Error(r.errors.join("; "));
    const c = r.config;
    expect(c.adminEmail).toBe("admin@mailer.test");
    expect([c.serverHost, c.serverPort]).toEqual(["127.0.0.1", 50007]);
    expect([c.logDir, c.stateDir]).toEqual(["logs", "logs/state"]);
    expect([c.maxRequestBytes, c.maxMessageChars, c.idleTimeout, c.maxConnections]).toEqual([65536, 10000, 30, 10000]);
    expect([c.smtpPoolSize, c.rateLimitPerMinute, c.recipientLimitPerHour]).toEqual([5, 30, 10]);
    expect(c.smtp).toEqual({ host: "127.0.0.1", port: 2525, security: "auto" });
    expect(c.tlsCaFile).toBeNull();
  });

  test("every missing required key is named at once", () => {
    const r = loadConfig({}, "collector");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const named = r.errors.map((e) => e.split(" ")[0]);
    expect(named).toEqual(["EMAIL_LOGIN", "EMAIL_PASSWORD", "IMAP_HOST", "IMAP_PORT", "PERIOD_CHECK"]);
    for (const e of r.errors) expect(e).toContain(".env.local");
  });

  test("the client needs no mail keys", () => {
    expect(loadConfig({}, "client").ok).toBe(true);
  });

  test("malformed values are reported with the value and what to use", () => {
    const r = loadConfig({ ...serverEnv, SMTP_PORT: "25x", SMTP_SECURE: "ssl", MAX_CONNECTIONS: "1.5", SERVER_PORT: "70000" }, "server");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(4);
    expect(r.errors.join("\n")).toContain('SMTP_PORT="25x" is not valid — use a whole number from 1 to 65535');
    expect(r.errors.join("\n")).toContain('SMTP_SECURE="ssl"');
  });

  test("a malformed key a program does not use is a warning for that program, an error for the one that uses it", () => {
    const env = { ...serverEnv, IMAP_HOST: "h", IMAP_PORT: "993", PERIOD_CHECK: "abc" };
    const client = loadConfig(env, "client");
    expect(client.ok).toBe(true);
    expect(client.warnings).toEqual(['PERIOD_CHECK="abc" is not valid — use a number of at least 0 (the client does not use it; the collector would stop on it)']);
    const server = loadConfig(env, "server");
    expect([server.ok, server.warnings.length]).toEqual([true, 1]);
    const collector = loadConfig(env, "collector");
    expect(collector.ok).toBe(false);
    if (!collector.ok) expect(collector.errors).toEqual(['PERIOD_CHECK="abc" is not valid — use a number of at least 0']);
    // a port the client uses stays an error for it
    expect(loadConfig({ SERVER_PORT: "x" }, "client").ok).toBe(false);
  });

  test("LOG_FORMAT: human (default) or json", () => {
    const ok = loadConfig({ ...serverEnv, LOG_FORMAT: "JSON" }, "server");
    expect(ok.ok && ok.config.logFormat).toBe("json");
    const bad = loadConfig({ ...serverEnv, LOG_FORMAT: "xml" }, "server");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors).toEqual(['LOG_FORMAT="xml" is not valid — use "human" (the default) or "json" (JSON Lines for log shippers)']);
  });

  test("PERIOD_CHECK must be positive", () => {
    const r = loadConfig({ ...serverEnv, IMAP_HOST: "h", IMAP_PORT: "993", PERIOD_CHECK: "0" }, "collector");
    expect(r.ok).toBe(false);
    const ok = loadConfig({ ...serverEnv, IMAP_HOST: "h", IMAP_PORT: "993", PERIOD_CHECK: "0.5" }, "collector");
    expect(ok.ok && ok.config.periodCheck).toBe(0.5);
  });

  test("the password never appears in an error", () => {
    const r = loadConfig({ EMAIL_LOGIN: "not-an-address", EMAIL_PASSWORD: "pw-s3cret", SMTP_HOST: "h", SMTP_PORT: "x" }, "server");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join("\n")).not.toContain("pw-s3cret");
  });

  test("TLS is chosen by port unless set", () => {
    expect(usesImplicitTls({ host: "h", port: 465, security: "auto" }, 465)).toBe(true);
    expect(usesImplicitTls({ host: "h", port: 587, security: "auto" }, 465)).toBe(false);
    expect(usesImplicitTls({ host: "h", port: 2525, security: "tls" }, 465)).toBe(true);
    expect(usesImplicitTls({ host: "h", port: 465, security: "starttls" }, 465)).toBe(false);
  });
});
