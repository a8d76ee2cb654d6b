import { expect, test } from "bun:test";
import { loadConfig, type Config } from "../../lib/shared/config";
import { exposureWarning, readinessLine } from "../../lib/server/banner";
import { isLoopback } from "../../lib/shared/net";

function config(env: Record<string, string> = {}): Config {
  const r = loadConfig({ EMAIL_LOGIN: "admin@mailer.test", EMAIL_PASSWORD: "pw", SMTP_HOST: "127.0.0.1", SMTP_PORT: "2525", ...env }, "server");
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.config;
}

test("the readiness line says where it listens and what it uses", () => {
  expect(readinessLine(config(), 50007)).toBe(
    "Mailer server listening on 127.0.0.1:50007 (SMTP 127.0.0.1:2525 STARTTLS when offered, pool 5; admin admin@mailer.test; state logs/state; 30 tickets/min per client, 10 tickets/h per recipient)",
  );
  expect(readinessLine(config({ SMTP_PORT: "465", RATE_LIMIT_PER_MINUTE: "0" }), 1)).toContain("SMTP 127.0.0.1:465 implicit TLS");
  expect(readinessLine(config({ SMTP_PORT: "465", RATE_LIMIT_PER_MINUTE: "0" }), 1)).toContain("no per-client limit");
});

test("loopback binds are quiet; any other address warns and names the limits in force", () => {
  for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) expect(isLoopback(host)).toBe(true);
  expect(exposureWarning(config())).toBeNull();
  const w = exposureWarning(config({ SERVER_HOST: "0.0.0.0", RATE_LIMIT_PER_MINUTE: "12" }))!;
  expect(w).toContain("listening on 0.0.0.0, not only on this machine");
  expect(w).toContain("RATE_LIMIT_PER_MINUTE=12");
  expect(w).toContain("RECIPIENT_LIMIT_PER_HOUR=10");
  expect(w).not.toContain("is OFF");
  expect(exposureWarning(config({ SERVER_HOST: "192.168.1.5", RECIPIENT_LIMIT_PER_HOUR: "0" }))).toContain("A rate limit is OFF");
});
