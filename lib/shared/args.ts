// One command-line parser for every program and script: node:util parseArgs, one usage-error
// format ("PROGRAM: what is wrong — Try: PROGRAM --help", exit 2, the program named as it was
// invoked: `bun client.ts` or the compiled `mailer-client`), and --help / --version
// answered before anything else is loaded. No heavy imports here, on purpose: `--help` of the
// server and the collector must start as fast as Bun itself.
import type { ParseArgsConfig } from "node:util";
import pkg from "../../package.json" with { type: "json" };
import { EXIT, MailerError, messageOf } from "./errors";

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface CommandSpec {
  /** how a person runs it, after `bun `: "server.ts", "scripts/sandbox.ts" */
  program: string;
  /** the whole --help text; "bun <program>" in it is replaced by the name the program was invoked as */
  usage: string;
  /** the program's own options; --help/-h and --version are added */
  options: Options;
  /** takes positional arguments (default: none) */
  positionals?: boolean;
  /** has --json: when it is given, a usage or start-up error is also printed on stdout as this
   *  object (code: "USAGE", "CONFIG", … from the MailerError kind), so a script reads one shape */
  jsonError?: (code: string, error: string) => unknown;
}

export type CommandLine = { values: Record<string, string | boolean | undefined>; positionals: string[] };

export type ParsedCommandLine = { action: "run"; line: CommandLine } | { action: "exit"; code: number; stdout?: string; stderr?: string };

export const VERSION = `mailer ${pkg.version}`;

/** Whether this process is a `bun build --compile` binary (its modules live in Bun's $bunfs). */
export function isCompiled(main: string = Bun.main): boolean {
  return main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(main);
}

/**
 * How the person ran the program, for usage texts and error lines: "bun client.ts" for the
 * script, or the binary as typed ("mailer-client", "./dist/mailer-client") when compiled.
 */
export function invokedAs(spec: Pick<CommandSpec, "program">, compiled = isCompiled(), argv0: string = process.argv0): string {
  return compiled ? argv0 : `bun ${spec.program}`;
}

/** The --help text with the program named as invoked; the column after the name stays aligned. */
export function usageText(spec: Pick<CommandSpec, "program" | "usage">, invocation = invokedAs(spec)): string {
  const script = `bun ${spec.program}`;
  if (invocation === script) return spec.usage;
  const shift = invocation.length - script.length;
  const lines = spec.usage.split("\n").map((line) => {
    const at = line.indexOf(script);
    if (at === -1) return line;
    // the package.json shortcut "(bun run x)" means nothing to a binary
    const rest = line.slice(at + script.length).replace(/ +\(bun run [\w-]+\)/, "");
    const column = / {2,}/.exec(rest);
    const aligned = column ? rest.slice(0, column.index) + " ".repeat(Math.max(2, column[0].length - shift)) + rest.slice(column.index + column[0].length) : rest;
    return line.slice(0, at) + invocation + aligned.replaceAll(script, invocation);
  });
  return lines.join("\n");
}

/** The one usage-error line: "client.ts: … — Try: bun client.ts --help" (compiled: "mailer-client: … — Try: mailer-client --help"). */
export function usageError(spec: Pick<CommandSpec, "program">, what: string, invocation = invokedAs(spec)): string {
  const name = invocation === `bun ${spec.program}` ? spec.program : invocation.replace(/^.*[\\/]/, "");
  return `${name}: ${what} — Try: ${invocation} --help`;
}

export function parseCommandLine(spec: CommandSpec, argv: string[]): ParsedCommandLine {
  // A lone --help or --version is answered without loading node:util, a noticeable part of
  // Bun's start-up (bench/FINDINGS.md, "Moved from code comments: client, sandbox, scripts").
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) return { action: "exit", code: EXIT.OK, stdout: usageText(spec) };
  if (argv.length === 1 && argv[0] === "--version") return { action: "exit", code: EXIT.OK, stdout: VERSION };
  const { parseArgs } = require("node:util") as typeof import("node:util");
  let parsed;
  try {
    parsed = parseArgs({
      args: attachValues(spec, argv),
      options: { ...spec.options, help: { type: "boolean", short: "h" }, version: { type: "boolean" } },
      allowPositionals: spec.positionals === true,
      strict: true,
    });
  } catch (err) {
    return { action: "exit", code: EXIT.USAGE, stderr: usageError(spec, describeParseError(err)) };
  }
  if (parsed.values.help) return { action: "exit", code: EXIT.OK, stdout: usageText(spec) };
  if (parsed.values.version) return { action: "exit", code: EXIT.OK, stdout: VERSION };
  return { action: "run", line: { values: parsed.values as CommandLine["values"], positionals: parsed.positionals } };
}

/**
 * getopt's rule, which the hand-written parsers had: the word after an option that takes a
 * value is its value even when it starts with "-" (a message may: -m "- first point").
 * parseArgs would refuse it as ambiguous, so such pairs are handed over as --name=value.
 */
function attachValues(spec: CommandSpec, argv: string[]): string[] {
  const long = new Map<string, string>();
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.type !== "string") continue;
    long.set(`--${name}`, name);
    if (o.short) long.set(`-${o.short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = long.get(argv[i]!);
    if (argv[i] === "--") return [...out, ...argv.slice(i)];
    if (name !== undefined && i + 1 < argv.length) out.push(`--${name}=${argv[++i]}`);
    else out.push(argv[i]!);
  }
  return out;
}

/** parseArgs's messages are long and name its own API; say what is wrong in the program's words. */
function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const quoted = /'([^']+)'/.exec(e.message ?? "")?.[1] ?? "";
  // "-e, --email <value>" → "--email"
  const option = /--[^\s<]+/.exec(quoted)?.[0] ?? quoted.split(" ")[0];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(e.message ?? "") ? `${option} needs a value` : `${option} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${JSON.stringify(quoted)}`;
    default:
      return messageOf(err);
  }
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

const consoleIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

/**
 * Parses the command line and runs the program, turning --help, --version, usage errors and a
 * thrown MailerError into output and an exit code. The entry point exits with what this returns.
 */
export async function runCommand(spec: CommandSpec, argv: string[], run: (line: CommandLine) => Promise<number>, io: Io = consoleIo): Promise<number> {
  const parsed = parseCommandLine(spec, argv);
  const json = spec.jsonError && argv.includes("--json") ? spec.jsonError : null;
  if (parsed.action === "exit") {
    if (parsed.stdout !== undefined) io.out(parsed.stdout);
    if (parsed.stderr !== undefined) {
      if (json) io.out(JSON.stringify(json("USAGE", parsed.stderr)));
      io.err(parsed.stderr);
    }
    return parsed.code;
  }
  try {
    return await run(parsed.line);
  } catch (err) {
    if (err instanceof MailerError) {
      const text = err.kind === "usage" ? usageError(spec, err.message) : err.message;
      if (json) io.out(JSON.stringify(json(err.kind.toUpperCase(), text)));
      io.err(text);
      return err.exitCode;
    }
    throw err;
  }
}
