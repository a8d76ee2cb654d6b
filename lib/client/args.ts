// The client's command line: parsed before anything else is loaded, so `bun client.ts --help`
// (and a usage error) costs no more than Bun's own start-up. No imports, on purpose.

export interface ClientArgs {
  help: boolean;
  email?: string;
  message?: string;
  host?: string;
  port?: number;
  timeoutSec?: number;
}

export type ArgsResult = { ok: true; args: ClientArgs } | { ok: false; error: string };

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
  -h, --help             this text

Exit codes: 0 accepted (the ticket number is printed), 1 refused (the reason is printed),
2 usage or configuration error, 3 server unreachable or no answer in time.`;

export function parseClientArgs(argv: string[]): ArgsResult {
  const args: ClientArgs = { help: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith("--") ? raw.indexOf("=") : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string | null => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined) return null;
      i++;
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        args.help = true;
        break;
      case "-e":
      case "--email":
      case "-m":
      case "--message":
      case "--host":
      case "--port":
      case "--timeout": {
        const v = value();
        if (v === null) return { ok: false, error: `${flag} needs a value` };
        if (flag === "-e" || flag === "--email") args.email = v;
        else if (flag === "-m" || flag === "--message") args.message = v;
        else if (flag === "--host") {
          if (!v.trim()) return { ok: false, error: "--host needs a host name or address" };
          args.host = v.trim();
        } else if (flag === "--port") {
          const n = Number(v);
          if (!/^\d+$/.test(v) || n < 1 || n > 65535) return { ok: false, error: `--port ${JSON.stringify(v)} is not a port number (1–65535)` };
          args.port = n;
        } else {
          const n = Number(v);
          if (!/^\d+(\.\d+)?$/.test(v) || n <= 0) return { ok: false, error: `--timeout ${JSON.stringify(v)} is not a positive number of seconds` };
          args.timeoutSec = n;
        }
        break;
      }
      default:
        return { ok: false, error: raw.startsWith("-") ? `unknown option ${raw}` : `unexpected argument ${JSON.stringify(raw)} (put the message after --message, in quotes)` };
    }
  }
  if ((args.email === undefined) !== (args.message === undefined)) {
    return { ok: false, error: args.email === undefined ? "--message needs --email too" : "--email needs --message too" };
  }
  return { ok: true, args };
}
