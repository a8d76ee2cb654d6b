// `bun run demo`: the whole system once, end to end, on this machine — sandbox, server and
// collector start, the real client sends one ticket, the collector logs it, the entry is
// printed, everything stops. Exit 0 only when the ticket really arrived in the log.
import { existsSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { EXIT } from "../lib/shared/cli";
import { Child, stopAllChildren } from "../lib/sandbox/processes";
import { REPO, reportFailure, StackError, stackConfig, startStack, type Stack } from "../lib/sandbox/stack";

const EMAIL = "ivan@example.com";
const MESSAGE = "Здравствуйте! Это демо Mailer 📬\nВторая строка — всё на месте ✅";
const CLIENT_TIMEOUT_MS = 15_000;

const t0 = performance.now();
const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
const print = (line: string) => console.log(line);

const checked = stackConfig(process.env);
if ("problems" in checked) {
  console.error(`Cannot run the demo — the configuration has ${checked.problems.length} problem${checked.problems.length > 1 ? "s" : ""}:`);
  for (const p of checked.problems) console.error(`  - ${p}`);
  process.exit(EXIT.USAGE);
}
const config = checked.config;
const logPath = resolve(REPO, config.logDir, "success_request.log");
// The collector logs within a moment thanks to IDLE; PERIOD_CHECK is the fallback.
const LOG_TIMEOUT_MS = Math.max(15, config.periodCheck * 2 + 5) * 1000;

print("Mailer demo: sandbox, server and collector on this machine; one ticket end to end.");
let stack: Stack | null = null;
let interrupted = false;

async function stopAll(): Promise<void> {
  await stopAllChildren(); // also those of a start-up still under way
  await stack?.stop();
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    print(`\nInterrupted (${signal}) — stopping everything…`);
    void stopAll().then(() => process.exit(130));
  });
}

try {
  try {
    stack = await startStack(config, { env: process.env, print });
  } catch (err) {
    if (err instanceof StackError && err.children.length === 0) {
      console.error(`Cannot run the demo:\n${err.message.split("\n").map((l) => `  - ${l}`).join("\n")}\nNothing was started.`);
      process.exit(EXIT.USAGE);
    }
    throw err;
  }
  const startOffset = existsSync(logPath) ? statSync(logPath).size : 0;
  // From here on, a server or collector that stops is a failure, whichever step we are at.
  const running = stack;
  const crashed = running.firstExit.then((child): never => {
    throw new StackError(`${child.name} stopped unexpectedly (exit ${child.proc.exitCode ?? child.proc.signalCode})`, running.children);
  });

  print(`→ sending a ticket with the real client: bun client.ts -e ${EMAIL} -m ${JSON.stringify(MESSAGE)}`);
  const client = new Child("client", [process.execPath, "--no-env-file", "client.ts", "-e", EMAIL, "-m", MESSAGE], {
    cwd: REPO,
    env: { ...process.env },
    print,
  });
  const code = await Promise.race([withTimeout(client.exited, CLIENT_TIMEOUT_MS, "the client did not finish"), crashed]);
  const said = client.tail().join("\n");
  const ticket = (said.match(/Ticket #(\d{5,})/) ?? said.match(/\b(\d{5,})\b/))?.[1];
  if (code !== 0 || !ticket) throw new StackError(`the client ${code !== 0 ? `exited with code ${code}` : "printed no ticket number"}`, [client, ...running.children]);

  print(`→ waiting for the collector to log ticket ${ticket} in ${shown(logPath)}…`);
  const entry = await Promise.race([waitForEntry(logPath, startOffset, ticket, LOG_TIMEOUT_MS), crashed]);
  if (normalise(String(entry.text)) !== normalise(MESSAGE)) {
    throw new StackError(`ticket ${ticket} was logged, but its text differs from what was sent: ${JSON.stringify(entry.text)}`, stack.children);
  }

  print("");
  print(`✓ Ticket ${ticket} went client → server → SMTP → IMAP → collector and is in ${shown(logPath)}:`);
  for (const line of formatEntry(entry)) print(`    ${line}`);
  print("");
  await stopAll();
  print(`Demo finished in ${seconds()} s; everything is stopped. Try it yourself with \`bun run dev\`: it serves the web form and`);
  print(`dashboard on http://${config.webHost}:${config.webPort}/ and the sandbox's web inbox (every mail caught) on http://127.0.0.1:${config.sandboxWebPort}/.`);
  process.exit(EXIT.OK);
} catch (err) {
  if (interrupted) await new Promise(() => {}); // the signal handler exits
  reportFailure(err, (line) => console.error(line));
  await stopAll();
  console.error(`Demo failed after ${seconds()} s; everything is stopped.`);
  process.exit(EXIT.REFUSED);
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
