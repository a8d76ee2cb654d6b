// server.ts and client.ts, as real processes, through the real Postfix (submission: STARTTLS +
// AUTH) and Dovecot of scripts/mailstack.sh, with certificate verification on: the stack's
// private CA is trusted through TLS_CA_FILE, never by turning checks off. What a person sees
// when the SMTP password is wrong, a recipient is refused, the certificate is from another CA,
// Postfix goes away and comes back; and the outbox delivering a queued admin copy to the real
// Postfix. (The full client → collector loop is in tests/realstack-collector.test.ts.)
// Skipped with one line outside CI when the stack is not running; fails in CI.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../../lib/store";
import { runEntry, startEntry } from "../helpers/env";
import { startFaultSink } from "../helpers/fault-sink";
import { mailstackCtl, requireMailstack, type MailstackEnv } from "../helpers/mailstack";
import { readState } from "../helpers/state";
import { allFileText, collectorEnv, findMail, logEntries, marker, runClient, serverEnv, ticketOf, until, workDir } from "../helpers/realstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const stack = requireMailstack();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(s: MailstackEnv, extra: Record<string, string> = {}, dir = workDir(cleanups), args: string[] = []) {
  const env = serverEnv(s, dir, extra);
  const srv = await startEntry("server.ts", args, env, /listening on/, 20_000);
  cleanups.push(async () => {
    if (srv.proc.exitCode === null) await srv.stop("SIGKILL");
  });
  return { ...srv, env, dir, port: Number(env.SERVER_PORT) };
}

/** The client's whole output: it prints the refusal reason on stderr, the ticket on stdout. */
const said = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

describe.skipIf(!stack)("server + client through Postfix (STARTTLS + AUTH) with a private CA", () => {
  const s = stack!;

  test("wrong SMTP password: the client gets MAIL_FAILED (exit 1) 'not available', the server's log says the login was refused; the password is in no output or file", async () => {
    const wrong = "Wr0ng-SMTP-pass-Q7x";
    // --debug: the real AUTH exchange with Postfix is printed (redacted) too
    const srv = await startServer(s, { EMAIL_PASSWORD: wrong }, workDir(cleanups), ["--debug"]);
    const run = await runClient(srv.port, s.user, `wrong password ${marker()}`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("MAIL_FAILED");
    expect(run.stderr).toContain("the support mailbox is not available right now — try again later");
    expect(await srv.stop()).toBe(0);
    expect(srv.output()).toContain(`the SMTP server at ${s.smtpHost}:${s.smtpPort} refused the login for EMAIL_LOGIN=${s.admin}`);
    expect(srv.output()).toMatch(/535 5\.7\.8/); // Postfix's own reply, passed on
    expect(srv.output()).toContain("check EMAIL_PASSWORD");
    expect(srv.output()).toContain("ERROR MAIL_FAILED");
    expect(srv.output()).toMatch(/AUTH (PLAIN|LOGIN)/); // the conversation is there…
    const b64 = (t: string) => Buffer.from(t).toString("base64");
    const forms = [wrong, b64(wrong), b64(`\0${s.admin}\0${wrong}`)]; // …without the password in any form
    for (const text of [said(run), srv.output(), allFileText(srv.dir.path)]) for (const f of forms) expect(text).not.toContain(f);
  }, 30_000);

  test("a recipient Postfix refuses (nobody@): MAIL_FAILED with the 550 5.1.1 reason, and no admin copy is queued or delivered", async () => {
    const refused = marker("refused");
    const sentinel = marker("sentinel");
    const srv = await startServer(s);
    const run = await runClient(srv.port, `nobody@${s.domain}`, `to nobody ${refused}`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`MAIL_FAILED`);
    expect(run.stderr).toContain(`refused the recipient nobody@${s.domain}: 550 5.1.1 <nobody@${s.domain}>: Recipient address rejected: User unknown`);
    // A good ticket after it: once its admin copy is in the INBOX, Postfix has delivered what it took.
    const ok = ticketOf(await runClient(srv.port, s.user, `after the refusal ${sentinel}`));
    const sentinelCopies = await findMail(s, "admin", sentinel, 1);
    expect(sentinelCopies.map((m) => m.parsed.subject)).toEqual([`[Ticket #${ok}] Mailer`]);
    expect(await findMail(s, "admin", refused, 1, 0)).toEqual([]);
    expect(await findMail(s, "user", refused, 1, 0)).toEqual([]);
    expect(await srv.stop()).toBe(0);
    // the admin copy was held before the person's mail, then cancelled, never sent: nothing left
    // in the outbox, and the ledger says the person's mail was refused
    const state = await readState(srv.dir.stateDir, srv.dir.logDir);
    expect(state.outbox).toMatchObject({ held: 0, ready: 0, sending: 0, dead: 0 });
    const store = await openStore({ stateDir: srv.dir.stateDir, logDir: srv.dir.logDir });
    const ledger = await store.tickets.ledger([String(Number(ok) - 1), ok]);
    await store.close();
    expect([...ledger.values()].map((l) => [l.requester, l.accepted])).toEqual([[`nobody@${s.domain}`, false], [s.user, true]]);
  }, 40_000);

  test("a server certificate this configuration does not trust (TLS_CA_FILE of another CA, or none): refused as a certificate problem, with the TLS_CA_FILE hint", async () => {
    for (const ca of [join(s.otherCaDir, "ca.pem"), ""]) {
      const srv = await startServer(s, { TLS_CA_FILE: ca });
      const run = await runClient(srv.port, s.user, `untrusted ${marker()}`);
      expect({ ca, code: run.code }).toEqual({ ca, code: 1 });
      expect(run.stderr).toContain("MAIL_FAILED");
      expect(run.stderr).toContain("the support mailbox is not available right now — try again later");
      expect(await srv.stop()).toBe(0);
      expect(srv.output()).toContain(`TLS with the SMTP server at ${s.smtpHost}:${s.smtpPort} failed: the certificate was not accepted`);
      expect(srv.output()).toContain("if the server uses a private CA, set TLS_CA_FILE to its PEM certificate (verification stays on)");
    }
  }, 40_000);

  test("TLS_CA_FILE adds a CA to the default trust, it does not replace it: a CA already trusted (here through NODE_EXTRA_CA_CERTS) still works for server and collector", async () => {
    // Stands in for a public CA: SMTP at a provider with a public certificate while TLS_CA_FILE
    // names a company CA for IMAP (or the other way round) must still verify.
    const extra = { TLS_CA_FILE: join(s.otherCaDir, "ca.pem"), NODE_EXTRA_CA_CERTS: s.caFile };
    const mark = marker("trust");
    const srv = await startServer(s, extra);
    const ticket = ticketOf(await runClient(srv.port, s.user, `default trust kept ${mark}`));
    expect(srv.output()).toContain(`OK ticket=${ticket} admin=sent`);
    expect(await srv.stop()).toBe(0);
    expect(await findMail(s, "admin", mark, 1)).toHaveLength(1);
    const dir = workDir(cleanups);
    const r = await runEntry("collector.ts", ["--once", "--all"], collectorEnv(s, dir, extra), undefined, 60_000);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(logEntries(dir.logDir).filter((e) => String(e.text).includes(mark)).map((e) => e.ticket)).toEqual([ticket]);
  }, 60_000);

  test("Postfix stopped while the server runs: MAIL_FAILED 'cannot connect'; started again: the next ticket goes through", async () => {
    const srv = await startServer(s);
    const before = marker("before");
    const after = marker("after");
    try {
      ticketOf(await runClient(srv.port, s.user, `warm pool ${before}`)); // pooled connections now open
      mailstackCtl("stop-smtp", s);
      const down = await runClient(srv.port, s.user, `while down ${marker()}`);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(`MAIL_FAILED`);
      expect(down.stderr).toContain("the support mailbox is not available right now — try again later");
      expect(srv.output()).toContain(`cannot connect to the SMTP server at ${s.smtpHost}:${s.smtpPort}: connection refused`);
      mailstackCtl("start-smtp", s);
      const ticket = ticketOf(await runClient(srv.port, s.user, `back again ${after}`));
      const [userCopy] = await findMail(s, "user", after, 1);
      expect(userCopy?.parsed.subject).toBe(`[Ticket #${ticket}] Mailer`);
      const [adminCopy] = await findMail(s, "admin", after, 1);
      expect(adminCopy?.parsed.subject).toBe(`[Ticket #${ticket}] Mailer`);
      expect(srv.output()).toMatch(new RegExp(`OK ticket=${ticket} admin=sent`));
    } finally {
      mailstackCtl("start-smtp", s); // a no-op when it runs
    }
    expect(await srv.stop()).toBe(0);
  }, 60_000);

  test("Postfix restarted between two tickets (the pooled connections went stale while idle): the next ticket goes through at once", async () => {
    const srv = await startServer(s);
    const mark = marker("restart");
    try {
      ticketOf(await runClient(srv.port, s.user, `before the restart ${mark}`));
      mailstackCtl("stop-smtp", s);
      mailstackCtl("start-smtp", s);
      const ticket = ticketOf(await runClient(srv.port, s.user, `right after the restart ${mark}`));
      expect(srv.output()).toContain(`OK ticket=${ticket} admin=sent`);
      expect((await findMail(s, "admin", `right after the restart ${mark}`, 1)).map((m) => m.parsed.subject)).toEqual([`[Ticket #${ticket}] Mailer`]);
    } finally {
      mailstackCtl("start-smtp", s);
    }
    expect(await srv.stop()).toBe(0);
  }, 60_000);

  test("outbox against the real Postfix: an admin copy queued by an earlier lifetime waits while Postfix is down, then arrives once", async () => {
    // No deterministic way makes the real Postfix accept the person's mail and then refuse the
    // admin's copy for a while (both go over the same pooled connection within milliseconds, and
    // its only refusals for a recipient are permanent 5xx). So the first lifetime sends through an
    // SMTP server that answers the admin's RCPT with 451; the second, on the same STATE_DIR,
    // talks to the real Postfix — first down, then up.
    const sink = await startFaultSink();
    cleanups.push(() => sink.close());
    sink.behave((rcpt) => (rcpt === s.admin ? "refuse" : "accept"));
    const dir = workDir(cleanups);
    const mark = marker("outbox");
    const first = await startServer(s, { SMTP_PORT: String(sink.port), SMTP_SECURE: "", TLS_CA_FILE: "" }, dir);
    const ticket = ticketOf(await runClient(first.port, s.user, `queued for the admin ${mark}`));
    expect(first.output()).toContain(`OK ticket=${ticket} admin=queued`);
    expect(await first.stop()).toBe(0);
    const { queued } = (await readState(dir.stateDir, dir.logDir)).outbox;
    expect(queued).toHaveLength(1);
    const messageId: string = queued[0]!.messageId;

    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      mailstackCtl("stop-smtp", s);
      second = await startServer(s, { OUTBOX_RETRY: "0.5" }, dir);
      const srv = second;
      // the line after the readiness line may arrive in a later chunk of the output
      await until(() => srv.output().includes("outbox: 1 admin copies queued from before"), 10_000, "the queued-copies line", srv.output);
      await until(() => /1 still queued \(last error: cannot connect to the SMTP server/.test(srv.output()), 10_000, "a failed retry", srv.output);
      const down = await runClient(srv.port, s.user, `while down ${marker()}`);
      expect(down.stderr).toContain("the support mailbox is not available right now — try again later");
      expect(srv.output()).toContain("ERROR MAIL_FAILED (cannot connect to the SMTP server");

      mailstackCtl("start-smtp", s);
      const next = ticketOf(await runClient(srv.port, s.user, `after restart ${mark}-next`));
      expect(Number(next)).toBeGreaterThan(Number(ticket));
      await until(() => /outbox: retried queued admin copies: 1 sent, 0 dead, 0 still queued/.test(srv.output()), 15_000, "the queued copy sent", srv.output);
      const copies = (await findMail(s, "admin", `queued for the admin ${mark}`, 1)).filter((m) => m.parsed.messageId === messageId);
      expect(copies).toHaveLength(1);
      const copy = copies[0]!.parsed;
      expect(copy.subject).toBe(`[Ticket #${ticket}] Mailer`);
      expect(copy.replyTo?.value.map((a) => a.address)).toEqual([s.user]);
      expect(copy.from?.value.map((a) => a.address)).toEqual([s.admin]);
      expect(copy.text?.trim()).toBe(`queued for the admin ${mark}`);
      await Bun.sleep(1500); // three more retry rounds: nothing is sent twice
      expect((await findMail(s, "admin", `queued for the admin ${mark}`, 2, 0)).length).toBe(1);
    } finally {
      mailstackCtl("start-smtp", s);
    }
    expect(await second!.stop()).toBe(0);
    expect((await readState(dir.stateDir, dir.logDir)).outbox).toMatchObject({ held: 0, ready: 0, sending: 0, dead: 0 });
    expect(sink.messages.filter((m) => m.to[0] === s.admin)).toEqual([]); // the first lifetime never got it out
  }, 90_000);
});
