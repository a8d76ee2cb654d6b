// `bun run state` (README "Operations: `bun run state`"). The command is lib/store/command.ts; this file only runs it and exits.
import { runCommand } from "../lib/shared/args";
import { STATE_COMMAND, runState } from "../lib/store/command";

process.exit(await runCommand(STATE_COMMAND, Bun.argv.slice(2), (line) => runState(line)));
