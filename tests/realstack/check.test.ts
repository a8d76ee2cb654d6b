// `bun server.ts --check` and `bun collector.ts --check` against the real Postfix (submission,
// STARTTLS + AUTH) and Dovecot (IMAPS) of scripts/mailstack.sh, certificate verification on.
// Skipped with one line outside CI when the stack is not running; fails in CI.
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { runEntry } from "../helpers/env";
import { requireMailstack } from "../helpers/mailstack";
import { collectorEnv, serverEnv, workDir } from "../helpers/realstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stack = requireMailstack();
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(!stack)("--check against Postfix + Dovecot", () => {
  test("server: STARTTLS verified, login accepted (0); wrong password (2); the CA of another stack (2)", async () => {
    const s = stack!;
    const dir = workDir(cleanups);
    const good = await runEntry("server.ts", ["--check"], serverEnv(s, dir));
    expect({ code: good.code, out: good.stdout }).toEqual({ code: 0, out: expect.stringContaining("✓ TLS (STARTTLS): the certificate was verified") });
    expect(good.stdout).toContain(`✓ login accepted for EMAIL_LOGIN=${s.admin}`);
    const wrong = await runEntry("server.ts", ["--check"], serverEnv(s, dir, { EMAIL_PASSWORD: "Wr0ng-check-pass" }));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/refused the login .*535/);
    const otherCa = await runEntry("server.ts", ["--check"], serverEnv(s, dir, { TLS_CA_FILE: join(s.otherCaDir, "ca.pem") }));
    expect(otherCa.code).toBe(2);
    expect(otherCa.stderr).toContain("the certificate was not accepted");
  }, 30_000);

  test("collector: IMAPS verified, INBOX opened (0); wrong password (2)", async () => {
    const s = stack!;
    const dir = workDir(cleanups);
    const good = await runEntry("collector.ts", ["--check"], collectorEnv(s, dir));
    expect(good.code).toBe(0);
    expect(good.stdout).toContain("✓ TLS: the certificate was verified");
    expect(good.stdout).toContain("✓ INBOX opened read-only");
    const wrong = await runEntry("collector.ts", ["--check"], collectorEnv(s, dir, { EMAIL_PASSWORD: "Wr0ng-check-pass" }));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`IMAP login to ${s.imapHost}:${s.imapsPort} failed for EMAIL_LOGIN=${s.admin}`);
  }, 30_000);
});
