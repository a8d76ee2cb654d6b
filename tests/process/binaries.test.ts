// The single-file binaries of `bun run build` (lib/build/binaries.ts) do what the scripts do: a
// ticket goes through the compiled client, server and collector against the compiled sandbox, an
// HTML message included (the collector's parse worker lives inside its binary); .env and .env.local
// are read from the working directory; usage texts name the binary as it was invoked.
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { builtBinaries } from "../helpers/binaries";
import { freePort } from "../helpers/kit";
import { useTempDirs } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const temp = useTempDirs("mailer-bin-");
let bin = "";
let work = "";
let smtpPort = 0;
const children: Bun.Subprocess[] = [];

beforeAll(async () => {
  bin = await builtBinaries();
  work = temp();
  const keys = {
    EMAIL_LOGIN: "admin@mailer.test", EMAIL_PASSWORD: "binaries-test-pw", ADMIN_EMAIL: "admin@mailer.test",
    SMTP_HOST: "127.0.0.1", SMTP_PORT: String(freePort()), IMAP_HOST: "127.0.0.1", IMAP_PORT: String(freePort()),
    PERIOD_CHECK: "60", SERVER_HOST: "127.0.0.1", LOG_DIR: join(work, "logs"), STATE_DIR: join(work, "state"),
  };
  const serverPort = String(freePort());
  // .env has all but SERVER_PORT, which only .env.local has: both files must be read
  writeFileSync(join(work, ".env"), Object.entries(keys).map(([k, v]) => `${k}=${v}`).join("\n") + "\nSERVER_PORT=1\n");
  writeFileSync(join(work, ".env.local"), `SERVER_PORT=${serverPort}\n`);
  smtpPort = Number(keys.SMTP_PORT);
  const sandbox = spawn("mailer-sandbox", []);
  await waitForLine(sandbox, "press Ctrl-C to stop");
}, 180_000);

afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

/** Reads a child's stdout until `text` appears (or it ends); the rest is read on in the background. */
async function waitForLine(proc: Bun.Subprocess<"ignore", "pipe", "pipe">, text: string): Promise<string> {
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${text} never came; output:\n${out}${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return out;
}

/** Runs a binary in the work directory with no configuration in its environment: only the files. */
function spawn(name: string, args: string[]) {
  const proc = Bun.spawn([join(bin, name), ...args], { cwd: work, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.push(proc);
  return proc;
}
async function run(name: string, args: string[]) {
  const proc = spawn(name, args);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

test("a ticket through the compiled client, server and collector; HTML mail parsed by the worker inside the binary", async () => {
  const server = spawn("mailer-server", []);
  expect(await waitForLine(server, "listening on")).toContain("Mailer server listening on");

  const client = await run("mailer-client", ["--json", "-e", "ivan@example.com", "-m", "Принтер на втором этаже 🖨️"]);
  expect(client.code).toBe(0);
  const ticket = JSON.parse(client.stdout.trim()).ticket as string;
  expect(ticket).toMatch(/^\d{5,}$/);

  // an HTML-only message to the admin, through the sandbox's SMTP side
  const smtp = nodemailer.createTransport({ host: "127.0.0.1", port: smtpPort, secure: false, auth: { user: "admin@mailer.test", pass: "binaries-test-pw" } });
  await smtp.sendMail({ from: "olga@example.com", to: "admin@mailer.test", subject: "Lunch?", html: "<p>Pizza <b>today</b>?</p>" });
  smtp.close();
  // the admin's copy of the ticket is in the inbox once the server has answered OK
  const collected = await run("mailer-collector", ["--once", "--json"]);
  expect(collected.stderr).not.toContain("worker");
  expect(collected.code).toBe(0);
  expect(JSON.parse(collected.stdout.trim())).toEqual({ logged: 2, tickets: 1, others: 1, skipped: 0, pending: 0, errors: [] });
  const read = (f: string) => readFileSync(join(work, "logs", f), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(read("success_request.log").map((e) => [e.ticket, e.text.trim()])).toEqual([[ticket, "Принтер на втором этаже 🖨️"]]);
  expect(read("error_request.log").map((e) => e.text)).toEqual(["Pizza today?"]);

  server.kill("SIGTERM");
  expect(await server.exited).toBe(0);
}, 60_000);

test("usage texts and usage errors name the binary as invoked", async () => {
  const help = await run("mailer-client", ["--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain(`${join(bin, "mailer-client")} --email ADDR --message TEXT`);
  expect(help.stdout).not.toContain("bun client.ts");
  const wrong = await run("mailer-collector", ["--frobnicate"]);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr.trim()).toBe(`mailer-collector: unknown option --frobnicate — Try: ${join(bin, "mailer-collector")} --help`);
  const version = await run("mailer-server", ["--version"]);
  expect(version.stdout.trim()).toMatch(/^mailer \d+\.\d+\.\d+$/);
}, 30_000);

test("the compiled web dashboard serves its pages and its static files from inside the binary", async () => {
  const webPort = freePort();
  writeFileSync(join(work, ".env.local"), `${readFileSync(join(work, ".env.local"), "utf8")}WEB_PORT=${webPort}\n`);
  const web = spawn("mailer-web", []);
  await waitForLine(web, `127.0.0.1:${webPort}`);
  for (const path of ["/", "/new", "/static/app.js", "/static/style.css"]) {
    const r = await fetch(`http://127.0.0.1:${webPort}${path}`);
    expect([path, r.status]).toEqual([path, 200]);
  }
  web.kill("SIGTERM");
  await web.exited;
}, 60_000);
