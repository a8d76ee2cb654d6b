// The whole loop through real servers, every piece a real process: client.ts → server.ts →
// Postfix (submission, STARTTLS + AUTH) → LMTP → Dovecot → collector.ts over STARTTLS (a running
// collector, woken by the new mail) and over implicit TLS (--once) → success_request.log.
// Certificate verification on: the stack's private CA is trusted through TLS_CA_FILE. Plus the
// collector's refusals over implicit TLS (STARTTLS ones are in tests/collector-mailstack.test.ts).
// The admin's INBOX is emptied at the start (test files run one after another); every assertion
// is still about this file's own messages (a marker in the text), as other files share it.
// Skipped with one line outside CI when the stack is not running; fails in CI.
import { afterEach, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { runEntry, startEntry } from "../helpers/env";
import { requireMailstack } from "../helpers/mailstack";
import { allFileText, clearAdminInbox, collectorEnv, findMail, logEntries, marker, runClient, serverEnv, ticketOf, until, workDir } from "../helpers/realstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stack = requireMailstack();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(entry: "server.ts" | "collector.ts", env: Record<string, string>, ready: RegExp) {
  const p = await startEntry(entry, [], env, ready, 30_000);
  cleanups.push(async () => {
    if (p.proc.exitCode === null) await p.stop("SIGKILL");
  });
  return { ...p, port: Number(env.SERVER_PORT) };
}

const addresses = (a: { value: { address?: string }[] } | { value: { address?: string }[] }[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address));

describe.skipIf(!stack)("client → server → Postfix → Dovecot → collector, certificate verification on", () => {
  const s = stack!;
  beforeAll(() => clearAdminInbox(s), 20_000);

  test("full loop: the same ticket and the Cyrillic + emoji text in success_request.log, over STARTTLS (live) and implicit TLS (--once); user and admin copies with the right headers", async () => {
    const mark = marker("loop");
    const message = `Здравствуйте! Заказ №42 не пришёл 😞\nВторая строка: «ёлка» 🎄🚀 — ${mark}\n\tс табуляцией, конец.`;

    const srvDir = workDir(cleanups);
    const server = await start("server.ts", serverEnv(s, srvDir), /listening on/);
    // a running collector over STARTTLS (port 10143), started before the mail exists
    const live = workDir(cleanups);
    const collector = await start(
      "collector.ts",
      collectorEnv(s, live, { IMAP_PORT: String(s.imapPort), IMAP_SECURE: "starttls" }),
      /Mailer collector watching .* on .*:\d+ \(TLS, IDLE, every 60 s\)/,
    );

    const run = await runClient(server.port, s.user, message);
    const ticket = ticketOf(run);
    expect(run.stdout).toContain(`Ticket #${ticket} accepted`);
    expect(server.output()).toContain(`OK ticket=${ticket} admin=sent`);

    // the live collector logs it (IDLE wakes it; PERIOD_CHECK is 60 s)
    const mine = (dir: string) => logEntries(dir).filter((e) => String(e.text).includes(mark));
    await until(() => mine(live.logDir).length > 0, 20_000, "the live collector's entry", collector.output);
    const expected = { ticket, text: message, from: s.admin, replyTo: s.user, subject: `[Ticket #${ticket}] Mailer` };
    expect(mine(live.logDir)).toEqual([expect.objectContaining(expected)]);
    expect(logEntries(live.logDir, "error_request.log").filter((e) => String(e.text).includes(mark))).toEqual([]);

    // the person's copy: From the admin, To the person, no Reply-To, the text intact
    const userCopies = await findMail(s, "user", mark, 1);
    expect(userCopies).toHaveLength(1);
    const u = userCopies[0]!;
    expect(addresses(u.parsed.from)).toEqual([s.admin]);
    expect(addresses(u.parsed.to)).toEqual([s.user]);
    expect(u.parsed.replyTo).toBeUndefined();
    expect(u.headers).not.toMatch(/^reply-to:/im);
    expect(u.parsed.subject).toBe(`[Ticket #${ticket}] Mailer`);
    expect(u.parsed.text?.replace(/\n$/, "")).toBe(message);
    expect(u.headers).toMatch(/^content-type: text\/plain; charset=utf-8/im);

    // the admin's copy: same subject and text, Reply-To the person
    const adminCopies = await findMail(s, "admin", mark, 1);
    expect(adminCopies).toHaveLength(1);
    const a = adminCopies[0]!;
    expect(addresses(a.parsed.from)).toEqual([s.admin]);
    expect(addresses(a.parsed.to)).toEqual([s.admin]);
    expect(addresses(a.parsed.replyTo)).toEqual([s.user]);
    expect(a.parsed.subject).toBe(`[Ticket #${ticket}] Mailer`);
    expect(a.parsed.text?.replace(/\n$/, "")).toBe(message);
    expect(mine(live.logDir)[0]).toMatchObject({ uid: a.uid, messageId: a.parsed.messageId });

    // a second collector, --once over implicit TLS (port 10993), fresh state: the same entry
    const once = workDir(cleanups);
    const r = await runEntry("collector.ts", ["--once"], collectorEnv(s, once), undefined, 60_000);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`on ${s.imapHost}:${s.imapsPort} (TLS, one check)`);
    expect(mine(once.logDir)).toEqual([expect.objectContaining({ ...expected, uid: a.uid })]);

    expect(await collector.stop()).toBe(0);
    expect(await server.stop()).toBe(0);
  }, 90_000);

  test("wrong IMAP password over implicit TLS: the collector's clear message and exit 2; the password in no output or file", async () => {
    const wrong = "Wr0ng-IMAP-pass-K3z";
    const dir = workDir(cleanups);
    for (const args of [["--once"], []]) {
      const r = await runEntry("collector.ts", args, collectorEnv(s, dir, { EMAIL_PASSWORD: wrong }), undefined, 30_000);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(`IMAP login to ${s.imapHost}:${s.imapsPort} failed for EMAIL_LOGIN=${s.admin}`);
      expect(r.stderr).toContain("Authentication failed");
      expect(r.stderr).toContain("Check EMAIL_PASSWORD (and EMAIL_LOGIN) in .env.local; the collector stops rather than retry a wrong password.");
      expect(r.stdout + r.stderr).not.toContain(wrong);
    }
    expect(allFileText(dir.path)).not.toContain(wrong);
  }, 40_000);

  test("an IMAP certificate this configuration does not trust (TLS_CA_FILE of another CA, or none), implicit TLS: exit 2, a certificate problem, how to trust a private CA", async () => {
    for (const ca of [join(s.otherCaDir, "ca.pem"), ""]) {
      const r = await runEntry("collector.ts", ["--once"], collectorEnv(s, workDir(cleanups), { TLS_CA_FILE: ca }), undefined, 30_000);
      expect({ ca, code: r.code }).toEqual({ ca, code: 2 });
      expect(r.stderr).toContain(`The TLS certificate of the IMAP server ${s.imapHost}:${s.imapsPort} could not be verified`);
      expect(r.stderr).toContain("if the server uses a private CA, set TLS_CA_FILE to its PEM certificate (verification stays on)");
      expect(r.stdout).not.toContain("Mailer collector checking"); // it never got as far as a check
    }
  }, 40_000);

  test("IMAP_SECURE=tls on the STARTTLS port: exit 2 at once (also without --once) naming IMAP_SECURE, not retried as an outage", async () => {
    for (const args of [["--once"], []]) {
      const r = await runEntry("collector.ts", args, collectorEnv(s, workDir(cleanups), { IMAP_PORT: String(s.imapPort), IMAP_SECURE: "tls" }), undefined, 30_000);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(`${s.imapHost}:${s.imapPort} does not speak implicit TLS`);
      expect(r.stderr).toContain("set IMAP_SECURE=starttls there, or use the server's implicit-TLS port (usually 993) with IMAP_SECURE=tls");
      expect(r.stderr).not.toContain("retrying");
    }
  }, 40_000);

  test("IMAP_SECURE unset on the implicit-TLS port (not 993): after the greeting timeout, --once says to set IMAP_SECURE=tls (exit 3)", async () => {
    const r = await runEntry("collector.ts", ["--once"], collectorEnv(s, workDir(cleanups), { IMAP_SECURE: "" }), undefined, 40_000);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`Cannot check the IMAP server ${s.imapHost}:${s.imapsPort}: GREETING_TIMEOUT`);
    expect(r.stderr).toContain("if IMAP_PORT is an implicit-TLS port (993, or the server's own), set IMAP_SECURE=tls");
  }, 45_000);
});
