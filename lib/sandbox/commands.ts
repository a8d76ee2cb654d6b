// The command lines of the sandbox scripts (docs/sandbox.md "Sandbox and demo"): `bun run sandbox`,
// `bun run dev`, `bun run demo`. Light at load on purpose: --help and --version are answered
// before smtp-server, hoodiecrow or any child process is touched.
import type { CommandSpec } from "../shared/args";

export interface ScriptIo {
  /** the entry point's process.exit: a second Ctrl-C ends the script at once (130) */
  exit(code: number): void;
}

const COMMON = `Options:
  -h, --help     this text
      --version  the version

The configuration comes from .env and .env.local, as for the programs themselves.`;

export const SANDBOX_COMMAND: CommandSpec = {
  program: "scripts/sandbox.ts",
  usage: `Usage: bun scripts/sandbox.ts    (bun run sandbox)

Runs the embedded SMTP + IMAP sandbox on SMTP_HOST:SMTP_PORT and IMAP_HOST:IMAP_PORT until
Ctrl-C: mail for ADMIN_EMAIL lands in its in-memory IMAP inbox, mail for anyone else is shown.

${COMMON}

Exit codes: 0 stopped (Ctrl-C, SIGTERM), 2 configuration error or a port in use,
130 a second Ctrl-C.`,
  options: {},
};

export const DEV_COMMAND: CommandSpec = {
  program: "scripts/dev.ts",
  usage: `Usage: bun scripts/dev.ts    (bun run dev)

Runs the sandbox, the server and the collector together in one terminal, each output line
prefixed with its part, until Ctrl-C. Send tickets with \`bun client.ts\` from another terminal.

${COMMON}

Exit codes: 0 stopped (Ctrl-C, SIGTERM), 1 a part stopped on its own (its last lines are
shown), 2 configuration error or a port in use (nothing started), 130 a second Ctrl-C.`,
  options: {},
};

export const DEMO_COMMAND: CommandSpec = {
  program: "scripts/demo.ts",
  usage: `Usage: bun scripts/demo.ts    (bun run demo)

Runs the whole system once on this machine: sandbox, server and collector start, the real
client sends one ticket, the collector logs it, the entry is printed and everything stops.

${COMMON}

Exit codes: 0 the ticket arrived in the log, 1 something failed on the way (the step and each
part's last lines are shown), 2 configuration error or a port in use (nothing started),
130 interrupted with Ctrl-C.`,
  options: {},
};

export async function runSandboxScript(io: ScriptIo): Promise<number> {
  return (await import("./serve")).serveSandbox(io);
}

export async function runDevScript(io: ScriptIo): Promise<number> {
  return (await import("./dev")).runDev(io);
}

export async function runDemoScript(io: ScriptIo): Promise<number> {
  return (await import("./demo")).runDemo(io);
}
