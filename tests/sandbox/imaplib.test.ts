// The sandbox's IMAP server serves any client (issue 12): Python's imaplib, run as it is, gets
// what Dovecot gives it — parenthesised search keys accepted, an untagged SEARCH line even for
// an empty result (imaplib returns [b''] then, not [None]), and APPEND of a real message whose
// boundary= is on an unindented continuation line. Dovecot's answers are checked alongside when
// the real stack is running (tests/helpers/mailstack.ts).
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { startSandboxImap } from "../../lib/sandbox/imap";
import { mailstackEnv } from "../helpers/mailstack";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function imaplib(args: string[]): Promise<Record<string, [string, unknown]>> {
  const proc = Bun.spawn(["python3", join(import.meta.dir, "imaplib-client.py"), ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`imaplib-client.py exited ${code}: ${err}`);
  return JSON.parse(out);
}

async function sandboxWithMail() {
  const s = await startSandboxImap({ port: 0, users: { [USER]: "pw" } });
  cleanups.push(() => s.close());
  await s.append("From: a@example.com\r\nSubject: read\r\n\r\nx\r\n", ["\\Seen"]);
  await s.append("From: a@example.com\r\nSubject: unread\r\n\r\nx\r\n");
  return s;
}

test("Python imaplib against the sandbox: parenthesised keys, an empty result as an empty SEARCH line, APPEND with an unindented boundary", async () => {
  const s = await sandboxWithMail();
  const r = await imaplib(["127.0.0.1", String(s.port), USER, "pw", "imaplib-mark"]);
  expect(r.unseen).toEqual(["OK", ["2"]]);
  expect(r.since).toEqual(["OK", ["1 2"]]);
  expect(r.nested).toEqual(["OK", ["2"]]);
  expect(r.empty).toEqual(["OK", [""]]);
  expect(r.append![0]).toBe("OK");
  expect(r.appended).toEqual(["OK", ["3"]]);
});

test("imapflow against the sandbox: the same searches, nested OR/NOT groups, and the appended message's boundary understood", async () => {
  const s = await sandboxWithMail();
  const c = new ImapFlow({ host: "127.0.0.1", port: s.port, secure: false, auth: { user: USER, pass: "pw" }, logger: false });
  c.on("error", () => {});
  await c.connect();
  cleanups.push(() => c.logout().catch(() => c.close()));
  await c.mailboxOpen("INBOX");
  expect(await c.search({ seen: false }, { uid: true })).toEqual([2]);
  expect(await c.search({ subject: "no-such-subject" }, { uid: true })).toEqual([]);
  expect(await c.search({ or: [{ subject: "read", seen: true }, { subject: "nothing" }] }, { uid: true })).toEqual([1]);
  expect(await c.search({ not: { seen: true, subject: "read" } }, { uid: true })).toEqual([2]);
  const raw = "From: a@example.com\r\nSubject: parts\r\nContent-Type: multipart/mixed;\r\nboundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n";
  const appended = await c.append("INBOX", raw);
  expect(appended && appended.uid).toBe(3);
  const [m] = await c.fetchAll("3", { bodyStructure: true, source: true }, { uid: true });
  expect(m!.source!.toString()).toBe(raw);
});

test.skipIf(!mailstackEnv())("Dovecot answers the same imaplib script the same way (the reference)", async () => {
  const env = mailstackEnv()!;
  const mark = `imaplib${Date.now().toString(36)}`;
  const r = await imaplib([env.imapHost, String(env.imapPort), env.user, env.userPassword, mark, "--starttls", env.caFile]);
  expect(r.unseen![0]).toBe("OK");
  expect(r.since![0]).toBe("OK");
  expect(r.nested![0]).toBe("OK");
  expect(r.empty).toEqual(["OK", [""]]);
  expect(r.append![0]).toBe("OK");
  expect((r.appended![1] as string[])[0]!.split(" ")).toHaveLength(1);
});
