// bun client.ts — asks for an email address and a message and gets a ticket from the server
// (README "Client"). Thin: argument parsing and the two flows live in lib/client-args.ts and
// lib/client-cli.ts. Only the argument parser is loaded before `--help` is answered; the rest
// is imported after, so help and usage errors start as fast as Bun itself.
import { CLIENT_USAGE, parseClientArgs } from "./lib/client/args";

const parsed = parseClientArgs(Bun.argv.slice(2));
if (!parsed.ok) {
  console.error(`client: ${parsed.error}\n\n${CLIENT_USAGE}`);
  process.exit(2); // EXIT.USAGE
}
const args = parsed.args;
if (args.help) {
  console.log(CLIENT_USAGE);
  process.exit(0);
}

const [{ configOrExit }, { runInteractive, runOnce, splitPipedInput }, { requestTicket }] = await Promise.all([
  import("./lib/shared/cli"),
  import("./lib/client/flows"),
  import("./lib/client/connection"),
]);
type Out = import("./lib/client/flows").Out;

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
  const { TerminalPrompter } = await import("./lib/client/prompt");
  const prompter = new TerminalPrompter();
  console.log(`Mailer — send a message to the support team (server ${host}:${port}). Ctrl-C quits.`);
  code = await runInteractive(prompter, config.maxMessageChars, send, out);
  prompter.close();
}
process.exit(code);
