// One shutdown behaviour for every long-running program: the first SIGINT, SIGTERM or SIGHUP
// (the terminal was closed) starts a clean stop; a second one ends the process at once with
// exit code 130. The exit itself is the entry point's (passed in), so lib/ never exits.
import { EXIT } from "./errors";

export type StopSignal = "SIGINT" | "SIGTERM" | "SIGHUP";
const SIGNALS: StopSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export interface ShutdownOptions {
  /** the clean stop; called once, with the first signal */
  stop(signal: StopSignal): void | Promise<void>;
  /** what a second signal does: the entry point's process.exit */
  exit(code: number): void;
  log(line: string): void;
}

/** Installs the handlers; returns a function that removes them. */
export function onStopSignals(o: ShutdownOptions): () => void {
  let stopping = false;
  const handler = (signal: StopSignal) => {
    if (stopping) {
      o.log(`${signal} again: exiting at once`);
      o.exit(EXIT.INTERRUPTED);
      return;
    }
    stopping = true;
    void o.stop(signal);
  };
  const bound = SIGNALS.map((s) => [s, () => handler(s)] as const);
  for (const [s, h] of bound) process.on(s, h);
  return () => {
    for (const [s, h] of bound) process.off(s, h);
  };
}
