// `bun run dev`: sandbox, server and collector together in one terminal, each line prefixed
// with its part, until Ctrl-C. Send tickets with `bun client.ts` from another terminal.
import { relative, resolve } from "node:path";
import { EXIT } from "../lib/shared/cli";
import { stopAllChildren } from "../lib/sandbox/processes";
import { REPO, reportFailure, StackError, stackConfig, startStack, type Stack } from "../lib/sandbox/stack";

const print = (line: string) => console.log(line);

const checked = stackConfig(process.env);
if ("problems" in checked) {
  console.error(`Cannot start — the configuration has ${checked.problems.length} problem${checked.problems.length > 1 ? "s" : ""}:`);
  for (const p of checked.problems) console.error(`  - ${p}`);
  process.exit(EXIT.USAGE);
}
const config = checked.config;

let stack: Stack | null = null;
let stopping = false;
async function shutdown(code: number, why: string): Promise<never> {
  stopping = true;
  print(`[dev] ${why} — stopping sandbox, server and collector…`);
  await stopAllChildren();
  await stack?.stop();
  print("[dev] stopped");
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (!stopping) void shutdown(EXIT.OK, signal === "SIGINT" ? "Ctrl-C" : signal);
  });
}

try {
  stack = await startStack(config, { env: process.env, print });
} catch (err) {
  if (err instanceof StackError && err.children.length === 0) {
    console.error(`Cannot start:\n${err.message.split("\n").map((l) => `  - ${l}`).join("\n")}\nNothing was started.`);
    process.exit(EXIT.USAGE);
  }
  if (stopping) await new Promise(() => {}); // the signal handler exits
  reportFailure(err, (line) => console.error(line));
  await shutdown(EXIT.REFUSED, "start-up failed");
}

const logs = relative(process.cwd(), resolve(REPO, config.logDir)) || ".";
print(`[dev] ready. Open the web form and dashboard: http://${config.webHost}:${config.webPort}/  — caught mail: ${stack!.sandbox.web!.url}`);
print(`[dev] or, in another terminal, send a ticket:`);
print(`[dev]   bun client.ts -e you@example.com -m "Hello!"    (or just: bun client.ts)`);
print(`[dev] the collector logs to ${logs}/success_request.log and ${logs}/error_request.log; Ctrl-C stops everything`);

const crashed = await stack!.firstExit;
if (!stopping) {
  reportFailure(new StackError(`${crashed.name} stopped unexpectedly (exit ${crashed.proc.exitCode ?? crashed.proc.signalCode})`, stack!.children), (line) => console.error(line));
  await shutdown(EXIT.REFUSED, `${crashed.name} stopped`);
}
