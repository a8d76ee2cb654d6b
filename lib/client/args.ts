// The client's command line (docs/client.md "Client"): its CommandSpec for lib/shared/args.ts and the
// checks parseArgs cannot express. Only the light shared core is imported, on purpose, so
// `bun client.ts --help` (and a usage error) costs no more than Bun's own start-up.
import type { CommandLine, CommandSpec } from "../shared/args";
import { MailerError } from "../shared/errors";

export interface ClientArgs {
  email?: string;
  message?: string;
  host?: string;
  port?: number;
  timeoutSec?: number;
  /** --json: one JSON line on stdout */
  json?: boolean;
}

export const CLIENT_USAGE = `Usage:
  bun client.ts                                   ask for the address and the message (interactive)
  bun client.ts --email ADDR --message TEXT       one attempt, no questions
  printf 'ADDR\\nTEXT…' | bun client.ts            one attempt: first line the address, the rest the message

Options:
  -e, --email ADDR       your email address
  -m, --message TEXT     the message (use $'line 1\\nline 2' in bash for several lines)
      --host HOST        server address (default SERVER_HOST, else 127.0.0.1)
      --port PORT        server port (default SERVER_PORT, else 50007)
      --timeout SECONDS  how long to wait for the server's answer (default 60)
      --json             print the result as one JSON line on stdout:
                         {"status":"OK","ticket":"10001"} or {"status":"ERROR","code":…,"error":…}
  -h, --help             this text
      --version          the version

Questions go to stderr, so \`bun client.ts > file\` leaves only the result in the file.
Exit codes: 0 accepted (the ticket number is printed), 1 refused (the reason is printed) or
cancelled with Ctrl-D at a prompt, 2 usage or configuration error (also empty piped input),
3 server unreachable or no answer in time, 130 Ctrl-C.`;

export const CLIENT_COMMAND: CommandSpec = {
  program: "client.ts",
  usage: CLIENT_USAGE,
  options: {
    email: { type: "string", short: "e" },
    message: { type: "string", short: "m" },
    host: { type: "string" },
    port: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
  },
  jsonError: (code, error) => ({ status: "ERROR", code, error }),
  // accepted by parseArgs only to be refused below with a hint about quoting
  positionals: true,
};

const usage = (what: string) => new MailerError("usage", what);

/** The parsed command line, checked; a problem is a MailerError of kind "usage". */
export function clientArgs(line: CommandLine): ClientArgs {
  const v = line.values as Record<string, string | undefined>;
  const json = line.values.json === true;
  if (line.positionals.length) {
    throw usage(`unexpected argument ${JSON.stringify(line.positionals[0])} (put the message after --message, in quotes)`);
  }
  const args: ClientArgs = json ? { json } : {};
  if (v.email !== undefined) args.email = v.email;
  if (v.message !== undefined) args.message = v.message;
  if (v.host !== undefined) {
    if (!v.host.trim()) throw usage("--host needs a host name or address");
    args.host = v.host.trim();
  }
  if (v.port !== undefined) {
    const n = Number(v.port);
    if (!/^\d+$/.test(v.port) || n < 1 || n > 65535) throw usage(`--port ${JSON.stringify(v.port)} is not a port number (1–65535)`);
    args.port = n;
  }
  if (v.timeout !== undefined) {
    const n = Number(v.timeout);
    if (!/^\d+(\.\d+)?$/.test(v.timeout) || n <= 0) throw usage(`--timeout ${JSON.stringify(v.timeout)} is not a positive number of seconds`);
    args.timeoutSec = n;
  }
  if ((v.email === undefined) !== (v.message === undefined)) {
    throw usage(v.email === undefined ? "--message needs --email too" : "--email needs --message too");
  }
  return args;
}
