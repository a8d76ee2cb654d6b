import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DURATIONS, loadConfig, usesImplicitTls } from "../../lib/shared/config";

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
    expect(client.warnings).toEqual(['PERIOD_CHECK="abc" is not valid — use a number of seconds from 1 s to 1 day (the client does not use it; the collector would stop on it)']);
    const server = loadConfig(env, "server");
    expect([server.ok, server.warnings.length]).toEqual([true, 1]);
    const collector = loadConfig(env, "collector");
    expect(collector.ok).toBe(false);
    if (!collector.ok) expect(collector.errors).toEqual(['PERIOD_CHECK="abc" is not valid — use a number of seconds from 1 s to 1 day']);
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

  test("every duration key has a range; a value outside it is refused by name, with the same message for every bad value", () => {
    const collector = { ...serverEnv, IMAP_HOST: "h", IMAP_PORT: "993" };
    // each key refused by the program that uses it (for the others it is a warning, issue 17)
    const errorFor = (key: string, value: string) => {
      const r = loadConfig({ ...collector, PERIOD_CHECK: "60", [key]: value }, key === "PERIOD_CHECK" ? "collector" : "server");
      return r.ok ? null : r.errors.find((e) => e.startsWith(key)) ?? r.errors.join("; ");
    };
    for (const [key, text] of [["PERIOD_CHECK", "from 1 s to 1 day"], ["SMTP_TIMEOUT", "from 1 s to 10 min"], ["IDLE_TIMEOUT", "from 1 s to 1 day"], ["OUTBOX_RETRY", "from 0.1 s to 1 day"]] as const) {
      // 3000000 overflowed the timer (it fired after 1 ms); 0.001 hammered the server
      for (const bad of ["abc", "0", "-1", "0.001", "3000000", "1e3", "Infinity"]) {
        expect(errorFor(key, bad)).toBe(`${key}=${JSON.stringify(bad)} is not valid — use a number of seconds ${text}`);
      }
      expect(errorFor(key, "1")).toBeNull();
    }
    const ok = loadConfig({ ...collector, PERIOD_CHECK: "86400", SMTP_TIMEOUT: "600", IDLE_TIMEOUT: "2.5", OUTBOX_RETRY: "0.3" }, "collector");
    expect(ok.ok && [ok.config.periodCheck, ok.config.smtpTimeout, ok.config.idleTimeout, ok.config.outboxRetry]).toEqual([86400, 600, 2.5, 0.3]);
  });

  test("every duration key of the configuration is in DURATIONS (none is left without a range)", () => {
    const source = readFileSync(join(import.meta.dir, "../../lib/shared/config.ts"), "utf8");
    // every key read as seconds goes through r.duration; r.positive (no upper bound) is gone
    expect(source).not.toContain("r.positive(");
    const read = [...source.matchAll(/r\.duration\("([A-Z_]+)"/g)].map((m) => m[1]).sort();
    expect(read).toEqual(Object.keys(DURATIONS).sort());
  });

  test("MAX_CONNECTIONS_PER_IP: default 100, 0 turns it off, a whole number", () => {
    const d = loadConfig(serverEnv, "server");
    expect(d.ok && d.config.maxConnectionsPerIp).toBe(100);
    const off = loadConfig({ ...serverEnv, MAX_CONNECTIONS_PER_IP: "0" }, "server");
    expect(off.ok && off.config.maxConnectionsPerIp).toBe(0);
    const bad = loadConfig({ ...serverEnv, MAX_CONNECTIONS_PER_IP: "ten" }, "server");
    expect(bad.ok ? [] : bad.errors).toEqual(['MAX_CONNECTIONS_PER_IP="ten" is not valid — use a whole number of at least 0']);
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
