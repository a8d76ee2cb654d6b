// `bun run dev` (docs/sandbox.md "Sandbox and demo"). The script is lib/sandbox/dev.ts; this file only runs it and exits.
import { runCommand } from "../lib/shared/args";
import { DEV_COMMAND, runDevScript } from "../lib/sandbox/commands";

process.exit(await runCommand(DEV_COMMAND, Bun.argv.slice(2), () => runDevScript({ exit: (code) => process.exit(code) })));
