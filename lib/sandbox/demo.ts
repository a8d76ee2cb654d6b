// `bun run demo`: the whole system once, end to end, on this machine — sandbox, server and
// collector start, the real client sends one ticket, the collector logs it, the entry is
// printed, everything stops. Exit 0 only when the ticket really arrived in the log.
import { existsSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import type { Config } from "../shared/config";
import { EXIT, isMailerError } from "../shared/errors";
import { onStopSignals } from "../shared/shutdown";
import type { ScriptIo } from "./commands";
import { Child, killAllChildren, stopAllChildren } from "./processes";
import { shellCommand } from "./shell-quote";
import { nothingStarted, REPO, reportFailure, StackError, stackConfigOrThrow, startStack, type Stack } from "./stack";

const EMAIL = "ivan@example.com";
const MESSAGE = "Здравствуйте! Это демо Mailer 📬\nВторая строка — всё на месте ✅";
const CLIENT_TIMEOUT_MS = 15_000;

const print = (line: string) => console.log(line);
const printErr = (line: string) => console.error(line);

/** What a signal handler needs to reach: the parts started so far, and whether we were interrupted. */
interface DemoRun {
  stack: Stack | null;
  interrupted: Promise<number> | null;
}

export async function runDemo(io: ScriptIo): Promise<number> {
  const t0 = performance.now();
  const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
  const config = stackConfigOrThrow(process.env, "Cannot run the demo");
  print("Mailer demo: sandbox, server and collector on this machine; one ticket end to end.");
  const run: DemoRun = { stack: null, interrupted: null };
  const stopAll = async () => {
    await stopAllChildren(); // also those of a start-up still under way
    await run.stack?.stop();
  };
  const removeHandlers = onStopSignals({
    stop: (signal) => {
      print(`\nInterrupted (${signal}) — stopping everything…`);
      run.interrupted = stopAll().then(() => EXIT.INTERRUPTED);
    },
    exit: (code) => (killAllChildren(), io.exit(code)),
    log: print,
  });
  try {
    await oneTicket(config, run);
    if (run.interrupted) return await run.interrupted;
    await stopAll();
    print(`Demo finished in ${seconds()} s; everything is stopped. Try it yourself with \`bun run dev\`: it serves the web form and`);
    print(`dashboard on http://${config.webHost}:${config.webPort}/ and the sandbox's web inbox (every mail caught) on http://127.0.0.1:${config.sandboxWebPort}/.`);
    return EXIT.OK;
  } catch (err) {
    if (run.interrupted) return await run.interrupted;
    if (isMailerError(err, "config")) throw nothingStarted(err, "Cannot run the demo");
    reportFailure(err, printErr);
    await stopAll();
    printErr(`Demo failed after ${seconds()} s; everything is stopped.`);
    return EXIT.REFUSED;
  } finally {
    removeHandlers();
  }
}

/** Starts the parts, sends the ticket with the real client and prints its log entry; throws on any failure. */
async function oneTicket(config: Config, run: DemoRun): Promise<void> {
  const logPath = resolve(REPO, config.logDir, "success_request.log");
  // The collector logs within a moment thanks to IDLE; PERIOD_CHECK is the fallback.
  const logTimeoutMs = Math.max(15, config.periodCheck * 2 + 5) * 1000;
  const stack = (run.stack = await startStack(config, { env: process.env, print }));
  const startOffset = existsSync(logPath) ? statSync(logPath).size : 0;
  // From here on, a server or collector that stops is a failure, whichever step we are at.
  const crashed = stack.firstExit.then((child): never => {
    throw new StackError(`${child.name} stopped unexpectedly (exit ${child.proc.exitCode ?? child.proc.signalCode})`, stack.children);
  });

  // a command a person can paste into bash and get the same ticket
  print(`→ sending a ticket with the real client: ${shellCommand(["bun", "client.ts", "-e", EMAIL, "-m", MESSAGE])}`);
  const client = new Child("client", [process.execPath, "--no-env-file", "client.ts", "-e", EMAIL, "-m", MESSAGE], { cwd: REPO, env: { ...process.env }, print });
  const code = await Promise.race([withTimeout(client.exited, CLIENT_TIMEOUT_MS, "the client did not finish"), crashed]);
  const said = client.tail().join("\n");
  const ticket = (said.match(/Ticket #(\d{5,})/) ?? said.match(/\b(\d{5,})\b/))?.[1];
  if (code !== 0 || !ticket) throw new StackError(`the client ${code !== 0 ? `exited with code ${code}` : "printed no ticket number"}`, [client, ...stack.children]);

  print(`→ waiting for the collector to log ticket ${ticket} in ${shown(logPath)}…`);
  const entry = await Promise.race([waitForEntry(logPath, startOffset, ticket, logTimeoutMs), crashed]);
  if (normalise(String(entry.text)) !== normalise(MESSAGE)) {
    throw new StackError(`ticket ${ticket} was logged, but its text differs from what was sent: ${JSON.stringify(entry.text)}`, stack.children);
  }
  print("");
  print(`✓ Ticket ${ticket} went client → server → SMTP → ${config.mailProtocol.toUpperCase()} → collector and is in ${shown(logPath)}:`);
  for (const line of formatEntry(entry)) print(`    ${line}`);
  print("");
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, Bun.sleep(ms).then(() => { throw new Error(`${what} within ${ms / 1000} s`); })]);
}

/** Polls the log (appended, never rewritten) from `offset` for the entry of `ticket`. */
async function waitForEntry(path: string, offset: number, ticket: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const text = await Bun.file(path).slice(offset).text();
      for (const line of text.split("\n")) {
        if (!line.endsWith("}")) continue; // a partial last line is finished on a later poll
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.ticket === ticket) return entry;
        } catch {}
      }
    }
    await Bun.sleep(50);
  }
  throw new Error(`the collector did not log ticket ${ticket} in ${path} within ${timeoutMs / 1000} s`);
}

/** A path as short as it is clear: relative when inside the working directory. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

function normalise(text: string): string {
  return text.replace(/\r\n/g, "\n").trim();
}

/** One field per line, the text's lines indented under it. */
function formatEntry(entry: Record<string, unknown>): string[] {
  const order = ["time", "ticket", "from", "subject", "messageId", "uid", "text"];
  const keys = [...order.filter((k) => k in entry), ...Object.keys(entry).filter((k) => !order.includes(k))];
  const width = Math.max(...keys.map((k) => k.length)) + 2;
  const lines: string[] = [];
  for (const key of keys) {
    const value = entry[key];
    const [first = "", ...rest] = (typeof value === "string" ? value : JSON.stringify(value)).split("\n");
    lines.push(`${key.padEnd(width)}${first}`);
    for (const more of rest) lines.push(`${"".padEnd(width)}${more}`);
  }
  return lines;
}
