// Every message of the shared corpus (CORPORA/emails, INDEX.tsv) through the real collector:
// exactly one entry each, no crash, decoded text checked on a sample.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { baseEnv, CORPORA, runEntry, tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const EMAILS = join(CORPORA, "emails");
const INDEX = join(EMAILS, "INDEX.tsv");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Replaces (or adds) the Subject header of a raw message, keeping every other byte. */
function withSubject(raw: Buffer, subject: string): Buffer {
  const text = raw.toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const rest = end < 0 ? "" : text.slice(end);
  const lines = head.split(/\r?\n/);
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (/^subject:/i.test(lines[i]!)) {
      while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) i++;
      continue;
    }
    kept.push(lines[i]!);
  }
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  return Buffer.from(`Subject: ${subject}${eol}${kept.join(eol)}${rest}`, "latin1");
}

test.skipIf(!existsSync(INDEX))("corpus: every message appended and collected yields exactly one entry", async () => {
  const files = readFileSync(INDEX, "utf8").split("\n").slice(1).filter(Boolean).map((l) => l.split("\t")[0]!);
  expect(files.length).toBe(787);
  const sandbox = await startSandboxImap({ port: 0, users: { "admin@mailer.test": "pw" } });
  cleanups.push(() => sandbox.close());
  const t = tempDir("mailer-corpus-");
  cleanups.push(t.cleanup);

  const expected = new Map<number, { file: string; ticket?: string }>();
  for (let i = 0; i < files.length; i++) {
    let raw: Buffer = readFileSync(join(EMAILS, files[i]!));
    // every 25th message becomes a ticket (reply form on odd ones): the positive path over messy MIME
    let ticket: string | undefined;
    if (i % 25 === 0) {
      ticket = String(30000 + i);
      raw = withSubject(raw, `${i % 2 ? "Re: " : ""}[Ticket #${ticket}] Mailer`);
    }
    const uid = await sandbox.append(raw);
    expected.set(uid, { file: files[i]!, ticket });
  }

  const logDir = join(t.path, "logs");
  const env = baseEnv({
    EMAIL_LOGIN: "admin@mailer.test", EMAIL_PASSWORD: "pw", IMAP_HOST: "127.0.0.1", IMAP_PORT: String(sandbox.port),
    PERIOD_CHECK: "60", LOG_DIR: logDir, STATE_DIR: join(t.path, "state"),
  });
  const started = performance.now();
  const r = await runEntry("collector.ts", ["--once"], env, undefined, 120_000);
  const ms = performance.now() - started;
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const read = (f: string) => readFileSync(join(logDir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const success = read("success_request.log");
  const errors = read("error_request.log");
  console.log(`corpus: ${files.length} messages → ${success.length} tickets + ${errors.length} errors in ${(ms / 1000).toFixed(1)} s (collector process, incl. start-up)`);

  const uids = [...success, ...errors].map((e) => e.uid).sort((a, b) => a - b);
  expect(uids).toEqual([...expected.keys()]);
  for (const e of success) expect({ uid: e.uid, ticket: e.ticket }).toEqual({ uid: e.uid, ticket: expected.get(e.uid)!.ticket });
  expect(success).toHaveLength([...expected.values()].filter((x) => x.ticket).length);
  for (const e of errors) {
    expect(typeof e.reason).toBe("string");
    expect(typeof e.text).toBe("string");
  }

  const textOf = (file: string) => [...success, ...errors].find((e) => expected.get(e.uid)!.file === file)?.text as string;
  expect(textOf("mailcore2/summary/input/989-encoding-7.eml")).toContain("Тестовое сообщение в кодировке windows-1251");
  expect(textOf("mailcore2/summary/input/989-encoding-4.eml")).toContain("Добрый день, Марина.");
  expect(textOf("mailcore2/summary/input/6144-russian.eml")).toContain("Что лучше Android или iOS");
  expect(textOf("mailcore2/summary/input/4850-russian.eml")).toContain("Уведомление участникам тендера");
  // attachments are listed, not inlined
  const withAttachment = [...success, ...errors].find((e) => expected.get(e.uid)!.file === "spamscope-mail-parser/mail_test_4");
  expect(withAttachment.attachments.map((a: { name: string }) => a.name)).toEqual(["img1.jpg", "Payment Invoice.zip"]);
  expect(withAttachment.text).not.toContain("UEsDB"); // no base64 zip in the text
}, 180_000);
