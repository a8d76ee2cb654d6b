import { expect, test } from "bun:test";
import type { TicketOutcome } from "../../lib/client/connection";
import { CLIENT_COMMAND, clientArgs } from "../../lib/client/args";
import { parseCommandLine } from "../../lib/shared/args";
import { runInteractive, runOnce, splitPipedInput } from "../../lib/client/flows";
import type { Prompter } from "../../lib/client/prompt";
import type { Reply } from "../../lib/wire/protocol";

/** The command line as client.ts sees it: parsed by the shared parser, then checked by clientArgs. */
function parseClientArgs(argv: string[]) {
  const parsed = parseCommandLine(CLIENT_COMMAND, argv);
  if (parsed.action === "exit") return parsed;
  try {
    return { ok: true, args: clientArgs(parsed.line) };
  } catch (err) {
    return { ok: false, error: `client.ts: ${(err as Error).message} — Try: bun client.ts --help` };
  }
}
const usageError = (what: string) => `client.ts: ${what} — Try: bun client.ts --help`;

test("argument parsing", () => {
  expect(parseClientArgs([])).toEqual({ ok: true, args: {} });
  expect(parseClientArgs(["-e", "a@b.cd", "-m", "hi", "--host", "::1", "--port", "5000", "--timeout", "2.5"])).toEqual({
    ok: true, args: { email: "a@b.cd", message: "hi", host: "::1", port: 5000, timeoutSec: 2.5 },
  });
  expect(parseClientArgs(["--email=a@b.cd", "--message=x=y"])).toEqual({ ok: true, args: { email: "a@b.cd", message: "x=y" } });
  // a message may start with a dash, as with the hand-written parser before
  expect(parseClientArgs(["-e", "a@b.cd", "-m", "- first point"])).toEqual({ ok: true, args: { email: "a@b.cd", message: "- first point" } });
  expect(parseClientArgs(["--help"])).toMatchObject({ action: "exit", code: 0, stdout: expect.stringContaining("Usage:") });
  expect(parseClientArgs(["--version"])).toEqual({ action: "exit", code: 0, stdout: "mailer 0.1.0" });
  expect(parseClientArgs(["-e", "a@b.cd"])).toEqual({ ok: false, error: usageError("--email needs --message too") });
  expect(parseClientArgs(["-m", "x"])).toEqual({ ok: false, error: usageError("--message needs --email too") });
  expect(parseClientArgs(["--port", "99999"])).toMatchObject({ ok: false, error: expect.stringContaining("not a port number") });
  expect(parseClientArgs(["--email"])).toEqual({ action: "exit", code: 2, stderr: usageError("--email needs a value") });
  expect(parseClientArgs(["--frobnicate"])).toEqual({ action: "exit", code: 2, stderr: usageError("unknown option --frobnicate") });
  expect(parseClientArgs(["hello"])).toMatchObject({ ok: false, error: expect.stringContaining("unexpected argument") });
});

test("piped input: first line the address, the rest the message", () => {
  expect(splitPipedInput("a@b.cd\nline 1\nline 2\n")).toEqual({ email: "a@b.cd", message: "line 1\nline 2\n" });
  expect(splitPipedInput("a@b.cd\r\nx")).toEqual({ email: "a@b.cd", message: "x" });
  expect(splitPipedInput("a@b.cd")).toEqual({ email: "a@b.cd", message: "" });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}
const reply = (r: Reply): TicketOutcome => ({ kind: "reply", reply: r });

test("one attempt: exit codes 0, 1 (local check and server refusal), 3 (unreachable, BUSY)", async () => {
  let calls = 0;
  const ok = async () => (calls++, reply({ status: "OK", ticket: "10007" }));
  let c = capture();
  expect(await runOnce("a@example.com", "hi", 100, ok, c.io)).toBe(0);
  expect(c.out.join()).toContain("Ticket #10007");

  c = capture();
  expect(await runOnce("not an address", "hi", 100, ok, c.io)).toBe(1);
  expect(c.err.join()).toMatch(/^Not sent: email address/);
  c = capture();
  expect(await runOnce("a@example.com", "x".repeat(101), 100, ok, c.io)).toBe(1);
  expect(c.err.join()).toContain("the limit is 100");
  expect(calls).toBe(1); // refused locally: never sent

  c = capture();
  expect(await runOnce("a@example.com", "hi", 100, async () => reply({ status: "ERROR", code: "MAIL_FAILED", error: "550 no" }), c.io)).toBe(1);
  expect(c.err.join()).toBe("Not accepted (MAIL_FAILED): 550 no");
  c = capture();
  expect(await runOnce("a@example.com", "hi", 100, async () => ({ kind: "unreachable", error: "cannot reach" }), c.io)).toBe(3);
  c = capture();
  expect(await runOnce("a@example.com", "hi", 100, async () => reply({ status: "ERROR", code: "BUSY", error: "full" }), c.io)).toBe(3);
});

/** A prompter that answers from a script; null = Ctrl-D. */
function scripted(answers: (string | null)[]): Prompter & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async ask(q) {
      asked.push(q);
      return answers.length ? answers.shift()! : null;
    },
    async askLines(q) {
      asked.push(q);
      const lines: string[] = [];
      for (;;) {
        const a = answers.length ? answers.shift()! : null;
        if (a === null) return lines.length ? lines.join("\n") : null;
        if (a === "") return lines.join("\n");
        lines.push(a);
      }
    },
    say() {},
    close() {},
  };
}

test("interactive: a bad address is asked again; the message is asked once", async () => {
  const sent: [string, string][] = [];
  const p = scripted(["ivan@", " ivan@пример.рф ", "Привет 👋", "second line", ""]);
  const c = capture();
  const code = await runInteractive(p, 100, async (e, m) => (sent.push([e, m]), reply({ status: "OK", ticket: "10001" })), c.io);
  expect(code).toBe(0);
  expect(sent).toEqual([["ivan@пример.рф", "Привет 👋\nsecond line"]]);
  expect(c.err[0]).toContain("has nothing after the @");
  expect(p.asked.filter((q) => q.startsWith("Your email")).length).toBe(2);
});

test("interactive: after a server error about the address, the message is kept", async () => {
  const sent: [string, string][] = [];
  const replies: Reply[] = [
    { status: "ERROR", code: "MAIL_FAILED", field: "email", error: "550 5.1.1 user unknown" },
    { status: "OK", ticket: "10002" },
  ];
  const p = scripted(["nobody@example.com", "my text", null, "me@example.com"]);
  const c = capture();
  const code = await runInteractive(p, 100, async (e, m) => (sent.push([e, m]), reply(replies.shift()!)), c.io);
  expect(code).toBe(0);
  expect(sent).toEqual([["nobody@example.com", "my text"], ["me@example.com", "my text"]]);
  expect(c.err.join("\n")).toContain("550 5.1.1 user unknown");
  expect(c.err.join("\n")).toContain("Your message is kept");
});

test("interactive: after a server error about the message, the address is kept", async () => {
  const sent: [string, string][] = [];
  const replies: Reply[] = [{ status: "ERROR", code: "INVALID_MESSAGE", field: "message", error: "too long" }, { status: "OK", ticket: "10003" }];
  const p = scripted(["me@example.com", "first", "", "second", ""]);
  const code = await runInteractive(p, 100, async (e, m) => (sent.push([e, m]), reply(replies.shift()!)), capture().io);
  expect(code).toBe(0);
  expect(sent).toEqual([["me@example.com", "first"], ["me@example.com", "second"]]);
});

test("interactive: other errors offer to try again with both kept; 'n' ends with the right code", async () => {
  const sent: string[] = [];
  const p = scripted(["me@example.com", "text", "", "", "n"]);
  const c = capture();
  const code = await runInteractive(p, 100, async (e) => (sent.push(e), reply({ status: "ERROR", code: "RATE_LIMITED", error: "wait 30 s", retryAfter: 30 })), c.io);
  expect(code).toBe(1);
  expect(sent.length).toBe(2); // the empty answer means yes
  // retryAfter (seconds on the wire) is shown in words when the server's text does not say it
  expect(c.err.join("\n")).toContain("Not accepted (RATE_LIMITED): wait 30 s — try again in 30 seconds");
  const unreachable = scripted(["me@example.com", "text", "", "no"]);
  expect(await runInteractive(unreachable, 100, async () => ({ kind: "unreachable", error: "cannot reach x" }), capture().io)).toBe(3);
});

test("interactive: Ctrl-D before anything is typed cancels, nothing sent", async () => {
  let sent = 0;
  const c = capture();
  expect(await runInteractive(scripted([null]), 100, async () => (sent++, reply({ status: "OK", ticket: "1" })), c.io)).toBe(1);
  expect(await runInteractive(scripted(["me@example.com", null]), 100, async () => (sent++, reply({ status: "OK", ticket: "1" })), c.io)).toBe(1);
  expect(sent).toBe(0);
  expect(c.err.join()).toContain("Cancelled — nothing was sent.");
});

test("interactive: Ctrl-D after some lines ends the message and sends it", async () => {
  const sent: string[] = [];
  expect(await runInteractive(scripted(["me@example.com", "only line", null]), 100, async (_e, m) => (sent.push(m), reply({ status: "OK", ticket: "1" })), capture().io)).toBe(0);
  expect(sent).toEqual(["only line"]);
});

test("interactive: RATE_LIMITED (also the per-recipient one, about the address) offers Try again? [Y/n] with both kept; 'n' ends it, never taken as an address", async () => {
  const sent: string[] = [];
  const p = scripted(["me@example.com", "text", "", "n"]);
  const c = capture();
  const limited = reply({ status: "ERROR", code: "RATE_LIMITED", field: "email", error: "too many tickets for me@example.com — try again in 3569 seconds", retryAfter: 3569 });
  expect(await runInteractive(p, 100, async (e) => (sent.push(e), limited), c.io)).toBe(1);
  expect(sent).toEqual(["me@example.com"]);
  expect(p.asked).toContain("Try again? [Y/n] ");
  expect(p.asked.filter((q) => q.startsWith("Your email"))).toHaveLength(1);
  // the wait in words, not seconds
  expect(c.err.join("\n")).toContain("try again in 59 minutes");
  expect(c.err.join("\n")).not.toContain("3569 seconds");
});
