// `bun run dev`: sandbox, server and collector together in one terminal, each line prefixed
// with its part, until a signal. Send tickets with `bun client.ts` from another terminal.
import { relative, resolve } from "node:path";
import { EXIT, isMailerError } from "../shared/errors";
import { onStopSignals, type StopSignal } from "../shared/shutdown";
import type { ScriptIo } from "./commands";
import { killAllChildren, stopAllChildren } from "./processes";
import { shellCommand } from "./shell-quote";
import { nothingStarted, REPO, reportFailure, StackError, stackConfigOrThrow, startStack, type Stack } from "./stack";

const print = (line: string) => console.log(line);
const printErr = (line: string) => console.error(line);

export async function runDev(io: ScriptIo): Promise<number> {
  const config = stackConfigOrThrow(process.env, "Cannot start");
  let stack: Stack | null = null;
  let stopping: Promise<number> | null = null;
  const shutdown = (code: number, why: string) =>
    (stopping ??= (async () => {
      print(`[dev] ${why} — stopping sandbox, server and collector…`);
      await stopAllChildren(); // also those of a start-up still under way
      await stack?.stop();
      print("[dev] stopped");
      return code;
    })());
  let signalled!: (signal: StopSignal) => void;
  const signal = new Promise<StopSignal>((r) => (signalled = r));
  const removeHandlers = onStopSignals({
    stop: (s) => {
      signalled(s);
      void shutdown(EXIT.OK, s === "SIGINT" ? "Ctrl-C" : s);
    },
    exit: (code) => (killAllChildren(), io.exit(code)),
    log: (line) => print(`[dev] ${line}`),
  });
  try {
    try {
      stack = await startStack(config, { env: process.env, print });
    } catch (err) {
      if (stopping) return await stopping; // interrupted during start-up
      if (isMailerError(err, "config")) throw nothingStarted(err, "Cannot start");
      reportFailure(err, printErr);
      return await shutdown(EXIT.REFUSED, "start-up failed");
    }
    if (stopping) {
      // the signal came as the start-up finished, after the shutdown looked for a stack
      await stack.stop();
      return await stopping;
    }
    printReady(stack);
    const crashed = await Promise.race([stack.firstExit, signal.then(() => null)]);
    if (crashed && !stopping) {
      reportFailure(new StackError(`${crashed.name} stopped unexpectedly (exit ${crashed.proc.exitCode ?? crashed.proc.signalCode})`, stack.children), printErr);
      return await shutdown(EXIT.REFUSED, `${crashed.name} stopped`);
    }
    return await stopping!;
  } finally {
    removeHandlers();
  }
}

function printReady(stack: Stack): void {
  const logs = relative(process.cwd(), resolve(REPO, stack.config.logDir)) || ".";
  print(`[dev] ready. Open the web form and dashboard: http://${stack.config.webHost}:${stack.config.webPort}/  — caught mail: ${stack.sandbox.web!.url}`);
  print(`[dev] or, in another terminal, send a ticket:`);
  print(`[dev]   ${shellCommand(["bun", "client.ts", "-e", "you@example.com", "-m", "Hello!"])}    (or just: bun client.ts)`);
  print(`[dev] the collector logs to ${logs}/success_request.log and ${logs}/error_request.log; Ctrl-C stops everything`);
}
