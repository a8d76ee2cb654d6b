// bun client.ts — asks for an email address and a message and gets a ticket from the server
// (README "Client"). Thin: argument parsing and the two flows live in lib/client-cli.ts.
import { configOrExit, EXIT, fail } from "./lib/cli";
import { CLIENT_USAGE, parseClientArgs, runInteractive, runOnce, splitPipedInput, type Out } from "./lib/client-cli";
import { requestTicket } from "./lib/client-connection";

const parsed = parseClientArgs(Bun.argv.slice(2));
if (!parsed.ok) fail(`client: ${parsed.error}\n\n${CLIENT_USAGE}`, EXIT.USAGE);
const args = parsed.args;
if (args.help) {
  console.log(CLIENT_USAGE);
  process.exit(EXIT.OK);
}

const config = configOrExit("client");
const host = args.host ?? config.serverHost;
const port = args.port ?? config.serverPort;
const timeoutMs = (args.timeoutSec ?? 60) * 1000;
const send = (email: string, message: string) => requestTicket(host, port, email, message, timeoutMs);
const out: Out = { out: (l) => console.log(l), err: (l) => console.error(l) };

let code: number;
if (args.email !== undefined && args.message !== undefined) {
  code = await runOnce(args.email, args.message, config.maxMessageChars, send, out);
} else if (!process.stdin.isTTY) {
  const { email, message } = splitPipedInput(await Bun.stdin.text());
  code = await runOnce(email, message, config.maxMessageChars, send, out);
} else {
  // Loaded only here: one-shot runs do not pay for node:readline.
  const { TerminalPrompter } = await import("./lib/prompt");
  const prompter = new TerminalPrompter();
  console.log(`Mailer — send a message to the support team (server ${host}:${port}). Ctrl-C quits.`);
  code = await runInteractive(prompter, config.maxMessageChars, send, out);
  prompter.close();
}
process.exit(code);
