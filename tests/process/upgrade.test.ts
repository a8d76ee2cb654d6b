// The upgrade from a STATE_DIR of the previous version (files it wrote by hand, in its formats:
// tickets.json, the outbox.jsonl journal with pending copies, a dead letter and a line torn by a
// disk-full error with the next record glued onto it, collector-checkpoint.json, a pid lock left
// by a crash): imported once, renamed aside with one line saying so; nothing queued is lost, no
// number comes back, the collector goes on where the old checkpoint was.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { requestTicket } from "../../lib/client/connection";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, runEntry, tempDir } from "../helpers/env";
import { ADMIN, startServer, until } from "../helpers/hardening";
import { startSmtpSink } from "../helpers/smtp-sink";
import { readState } from "../helpers/state";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const PASS = "upgrade-pw";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const mail = (ticket: string, id: string) => ({
  from: ADMIN, to: ADMIN, replyTo: `${id}@example.com`, subject: `[Ticket #${ticket}] Mailer`, text: `copy of ${ticket}`,
  messageId: `<ticket-${ticket}.${id}@mailer>`, date: "2026-11-30T10:00:00.000Z",
});
const line = (rec: object) => JSON.stringify(rec);

/** A STATE_DIR exactly as the previous version leaves it after a crash. */
function oldStateDir(stateDir: string, logDir: string, uidValidity: number) {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, "tickets.json"), JSON.stringify({ reservedUpTo: 10300 }) + "\n");
  const at = "2026-11-30T10:00:00.000Z";
  const journal = [
    line({ op: "queued", id: "10201-ab1", ticket: "10201", mail: mail("10201", "pending"), at }),
    line({ op: "failed", id: "10201-ab1", at, reason: "451 4.3.0 try later" }),
    line({ op: "queued", id: "10202-ab2", ticket: "10202", mail: mail("10202", "dead"), at }),
    line({ op: "dead", id: "10202-ab2", at, reason: "550 5.1.1 mailbox unavailable" }),
    line({ op: "queued", id: "10203-ab3", ticket: "10203", mail: mail("10203", "done"), at }),
    line({ op: "sent", id: "10203-ab3", at, response: "250 ok" }),
    // ENOSPC cut this record short; the next append was glued onto it (the old journal's defect)
    line({ op: "queued", id: "10204-ab4", ticket: "10204", mail: mail("10204", "torn"), at }).slice(0, 70) +
      line({ op: "queued", id: "10205-ab5", ticket: "10205", mail: mail("10205", "glued"), at }),
  ];
  writeFileSync(join(stateDir, "outbox.jsonl"), journal.join("\n") + "\n");
  writeFileSync(join(stateDir, "collector-checkpoint.json"), JSON.stringify({ account: `${ADMIN}@127.0.0.1:${0}/INBOX`, uidValidity, lastUid: 2, pending: [], dedupeUpTo: 0 }) + "\n");
  writeFileSync(join(stateDir, "server.lock"), JSON.stringify({ pid: 2 ** 22 + 5, host: hostname(), started: at }) + "\n");
  const entry = (uid: number) => line({ time: at, ticket: "10201", text: `old ${uid}`, from: "x@example.com", subject: "[Ticket #10201] Mailer", messageId: null, uid, uidValidity, sha256: `${uid}`.padStart(64, "0"), size: 10 });
  writeFileSync(join(logDir, "success_request.log"), [entry(1), entry(2)].join("\n") + "\n");
}

test("an old STATE_DIR is imported once: queued copies delivered (also the one glued to a torn line), the dead letter kept, numbers above the old reservation", async () => {
  const t = tempDir("mailer-upgrade-");
  cleanups.push(t.cleanup);
  const stateDir = join(t.path, "state");
  const logDir = join(t.path, "logs");
  oldStateDir(stateDir, logDir, 4242);
  const smtp = await startSmtpSink();
  cleanups.push(() => smtp.close());
  const srv = await startServer(cleanups, smtp.port, PASS, { STATE_DIR: stateDir, LOG_DIR: logDir, OUTBOX_RETRY: "0.3" });
  const imported = srv.output().split("\n").filter((l) => l.includes("Imported the previous version's state"));
  expect(imported).toHaveLength(1);
  expect(imported[0]).toContain("ticket numbers continue after 10300");
  expect(imported[0]).toContain("2 queued admin copies and 1 dead letter");
  expect(imported[0]).toContain("tickets.json, outbox.jsonl, collector-checkpoint.json renamed to *.imported");
  expect(srv.output()).toMatch(/WARNING: dead letter .* ticket 10202 was refused permanently \(550 5\.1\.1/);
  await until(() => smtp.messages.length >= 2, 10_000, "the queued copies", srv.output);
  const next = await requestTicket("127.0.0.1", srv.port, "new@example.com", "after the upgrade", 10_000);
  expect(next).toMatchObject({ kind: "reply", reply: { status: "OK", ticket: "10301" } });
  await Bun.sleep(700); // further retry rounds send nothing more
  const copies = smtp.messages.filter((m) => m.to[0] === ADMIN).map((m) => m.parsed.messageId).sort();
  expect(copies).toEqual(["<ticket-10201.pending@mailer>", "<ticket-10205.glued@mailer>", expect.stringMatching(/^<ticket-10301\./)]);
  expect(await srv.stop("SIGTERM")).toBe(0);

  expect(readdirSync(stateDir).filter((f) => f.endsWith(".imported")).sort()).toEqual(["collector-checkpoint.json.imported", "outbox.jsonl.imported", "server.lock.imported", "tickets.json.imported"]);
  const state = await readState(stateDir, logDir);
  expect(state.outbox.deadLetters.map((d) => [d.ticket, d.lastError])).toEqual([["10202", "550 5.1.1 mailbox unavailable"]]);
  expect(state.checkpoints).toMatchObject([{ uidValidity: 4242, lastUid: 2 }]);
  // a second start imports nothing again
  const again = await startServer(cleanups, smtp.port, PASS, { STATE_DIR: stateDir, LOG_DIR: logDir });
  expect(again.output()).not.toContain("Imported");
  expect(await requestTicket("127.0.0.1", again.port, "new@example.com", "2", 10_000)).toMatchObject({ reply: { ticket: "10302" } });
}, 40_000);

test("the collector goes on from the imported checkpoint and the old logs: nothing logged twice", async () => {
  const t = tempDir("mailer-upgrade-");
  cleanups.push(t.cleanup);
  const imap = await startSandboxImap({ port: 0, users: { [ADMIN]: PASS }, uidValidity: 4242 });
  cleanups.push(() => imap.close());
  const stateDir = join(t.path, "state");
  const logDir = join(t.path, "logs");
  oldStateDir(stateDir, logDir, 4242);
  // the checkpoint names the account the old collector used: this IMAP port
  const cp = JSON.parse(readFileSync(join(stateDir, "collector-checkpoint.json"), "utf8"));
  writeFileSync(join(stateDir, "collector-checkpoint.json"), JSON.stringify({ ...cp, account: `${ADMIN}@127.0.0.1:${imap.port}/INBOX` }));
  for (let i = 1; i <= 3; i++) await imap.append(`From: p@example.com\r\nSubject: [Ticket #10201] Mailer\r\n\r\nmessage ${i}\r\n`, ["\\Seen"]);
  const env = baseEnv({ EMAIL_LOGIN: ADMIN, EMAIL_PASSWORD: PASS, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(imap.port), PERIOD_CHECK: "60", LOG_DIR: logDir, STATE_DIR: stateDir });
  const r = await runEntry("collector.ts", ["--once"], env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("Imported the previous version's state");
  expect(r.stdout).toContain("the collector checkpoint (UIDVALIDITY 4242, last UID 2)");
  const uids = readFileSync(join(logDir, "success_request.log"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).uid);
  expect(uids).toEqual([1, 2, 3]); // 1 and 2 from the old log, 3 new — read or not
  expect(existsSync(join(stateDir, "collector-checkpoint.json"))).toBe(false);
}, 30_000);
