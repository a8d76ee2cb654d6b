import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { ImapFlow } from "imapflow";
import { startSandboxImap, type SandboxImap } from "../../lib/sandbox/imap";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const USER = "admin@mailer.test";
const PASS = "sandbox-pass";
const open: SandboxImap[] = [];
const clients: ImapFlow[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.logout().catch(() => c.close());
  for (const s of open.splice(0)) await s.close();
});

async function start(opts: Partial<Parameters<typeof startSandboxImap>[0]> = {}) {
  const s = await startSandboxImap({ port: 0, users: { [USER]: PASS }, idle: true, ...opts });
  open.push(s);
  return s;
}

async function connect(port: number, user = USER, pass = PASS) {
  const c = new ImapFlow({ host: "127.0.0.1", port, secure: false, auth: { user, pass }, logger: false, disableAutoIdle: true });
  c.on("error", () => {});
  await c.connect();
  clients.push(c);
  return c;
}

test("only the configured users log in; hoodiecrow's built-in testuser is refused", async () => {
  const s = await start();
  const good = await connect(s.port);
  expect(good.authenticated).toBeTruthy();
  for (const [user, pass] of [["testuser", "testpass"], [USER, "wrong"]]) {
    const c = new ImapFlow({ host: "127.0.0.1", port: s.port, secure: false, auth: { user: user!, pass: pass! }, logger: false });
    c.on("error", () => {});
    const err = await c.connect().then(() => null, (e) => e);
    expect(err?.authenticationFailed).toBe(true);
  }
});

test("UIDVALIDITY is fresh on every start unless given, and is what clients see", async () => {
  const a = await start();
  await a.close();
  const b = await start({ port: a.port });
  expect(b.port).toBe(a.port);
  expect(b.uidValidity).not.toBe(a.uidValidity);
  expect(a.uidValidity).toBeGreaterThan(1);
  const c = await start({ uidValidity: 4242 });
  const client = await connect(c.port);
  const box = await client.mailboxOpen("INBOX");
  expect(box.uidValidity).toBe(4242n);
});

test("append returns increasing UIDs, sources round-trip byte for byte, BODY.PEEK leaves flags alone", async () => {
  const s = await start();
  const raw1 = Buffer.concat([Buffer.from("Subject: one\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"), Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x0d, 0x0a])]);
  const uid1 = await s.append(raw1);
  const uid2 = await s.append("Subject: two\r\n\r\nsecond\r\n", ["\\Flagged"]);
  expect(uid2).toBe(uid1 + 1);
  const client = await connect(s.port);
  await client.mailboxOpen("INBOX");
  const got: { uid: number; source?: Buffer }[] = [];
  for await (const m of client.fetch("1:*", { uid: true, source: true }, { uid: true })) got.push(m);
  expect(got.map((m) => m.uid)).toEqual([uid1, uid2]);
  expect(Buffer.compare(got[0]!.source!, raw1)).toBe(0);
  expect(s.messages()).toEqual([{ uid: uid1, flags: [] }, { uid: uid2, flags: ["\\Flagged"] }]);
});

test("download() streams a whole message in partial windows, byte for byte", async () => {
  const s = await start();
  // 200 KiB body: several 64 KiB BODY.PEEK[]<start.length> windows; odd bytes and a duplicate
  // Content-Transfer-Encoding header (hoodiecrow's BODYSTRUCTURE code throws on it)
  const body = Buffer.alloc(200 * 1024 + 7, 0);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  const raw = Buffer.concat([Buffer.from("Subject: big\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"), body]);
  const uid = await s.append(raw);
  const client = await connect(s.port);
  await client.mailboxOpen("INBOX");
  const { content } = await client.download(String(uid), undefined, { uid: true });
  const chunks: Buffer[] = [];
  for await (const chunk of content!) chunks.push(chunk as Buffer);
  expect(Buffer.compare(Buffer.concat(chunks), raw)).toBe(0);
  expect(s.messages()[0]!.flags).toEqual([]);
});

test("an append from the sandbox side wakes a client in IDLE (EXISTS)", async () => {
  const s = await start();
  const client = await connect(s.port);
  await client.mailboxOpen("INBOX");
  const exists = new Promise<{ count: number }>((resolve) => client.once("exists", resolve));
  const idling = client.idle();
  await Bun.sleep(100);
  await s.append("Subject: wake up\r\n\r\nhi\r\n");
  expect((await exists).count).toBe(1);
  await client.noop(); // ends IDLE
  await idling;
}, 10_000);

test("setFlags is what clients see afterwards, and messages() reports it", async () => {
  const s = await start();
  const uid = await s.append("Subject: read me\r\n\r\nx\r\n");
  s.setFlags(uid, ["\\Seen"]);
  const client = await connect(s.port);
  await client.mailboxOpen("INBOX");
  expect(await client.search({ seen: false }, { uid: true })).toEqual([]);
  expect(s.messages()).toEqual([{ uid, flags: ["\\Seen"] }]);
  expect(() => s.setFlags(999, [])).toThrow(/no message with UID 999/);
});

test("close drops connected clients and frees the port", async () => {
  const s = await start();
  const client = await connect(s.port);
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  await s.close();
  await closed;
  clients.length = 0;
  const again = await start({ port: s.port });
  expect(again.port).toBe(s.port);
});

test("TLS: implicit TLS, or STARTTLS on a plain port, with the given certificate", async () => {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const fixtures = join(import.meta.dir, "../fixtures/tls");
  const key = readFileSync(join(fixtures, "server.key"));
  const cert = readFileSync(join(fixtures, "server.pem"));
  const ca = [readFileSync(join(fixtures, "ca.pem"), "utf8")];
  for (const starttls of [false, true]) {
    const s = await start({ tls: { key, cert, starttls } });
    const c = new ImapFlow({
      host: "127.0.0.1", port: s.port, secure: !starttls, ...(starttls ? { doSTARTTLS: true } : {}),
      tls: { ca, servername: "", rejectUnauthorized: true }, auth: { user: USER, pass: PASS }, logger: false,
    } as ConstructorParameters<typeof ImapFlow>[0]);
    c.on("error", () => {});
    await c.connect();
    clients.push(c);
    expect(c.secureConnection).toBe(true);
  }
});
