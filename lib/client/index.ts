// The client's public surface: its command line and `runClient`. Light at load on purpose —
// the flows, the connection and the terminal prompts are imported only when a ticket is sent,
// so `bun client.ts --help` starts as fast as Bun itself.
import type { CommandLine } from "../shared/args";
import { EXIT, MailerError } from "../shared/errors";
import { clientArgs } from "./args";

export { CLIENT_COMMAND, CLIENT_USAGE, clientArgs, type ClientArgs } from "./args";

export interface ClientIo {
  /** the entry point's process.exit: Ctrl-C at a prompt ends the client with 130 */
  exit(code: number): void;
}

/**
 * Runs the client as docs/client.md "Client" describes: one attempt from the flags or from piped stdin,
 * else the interactive loop on the terminal. Returns the exit code; configuration and usage
 * problems are thrown as MailerError (runCommand prints them).
 */
export async function runClient(line: CommandLine, io: ClientIo): Promise<number> {
  const args = clientArgs(line);
  const [{ loadConfigOrThrow }, { runInteractive, runOnce, splitPipedInput }, { requestTicket }] = await Promise.all([
    import("../shared/cli"),
    import("./flows"),
    import("./connection"),
  ]);
  const config = loadConfigOrThrow("client");
  const host = args.host ?? config.serverHost;
  const port = args.port ?? config.serverPort;
  const timeoutMs = (args.timeoutSec ?? 60) * 1000;
  const send = (email: string, message: string) => requestTicket(host, port, email, message, timeoutMs);
  const out = { out: (l: string) => console.log(l), err: (l: string) => console.error(l), json: args.json === true };

  if (args.email !== undefined && args.message !== undefined) return runOnce(args.email, args.message, config.maxMessageChars, send, out);
  if (!process.stdin.isTTY) {
    const input = await Bun.stdin.text();
    if (input.trim() === "") throw new MailerError("usage", EMPTY_INPUT);
    const { email, message } = splitPipedInput(input);
    return runOnce(email, message, config.maxMessageChars, send, out);
  }
  const { TerminalPrompter } = await import("./prompt");
  // questions on stderr: `bun client.ts > file` leaves only the result in the file
  const prompter = new TerminalPrompter(() => io.exit(EXIT.INTERRUPTED), process.stdin, process.stderr);
  console.error(`Mailer — send a message to the support team (server ${host}:${port}). Ctrl-C quits, Ctrl-D at a question cancels.`);
  try {
    return await runInteractive(prompter, config.maxMessageChars, send, out);
  } finally {
    prompter.close();
  }
}

const EMPTY_INPUT =
  "standard input is empty — when it is not a terminal, its first line must be your email address and the lines after it your message, " +
  "e.g. printf 'you@example.com\\nThe printer is jammed\\n' | bun client.ts (or use --email and --message)";
