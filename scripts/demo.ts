// `bun run demo` (docs/sandbox.md "Sandbox and demo"). The script is lib/sandbox/demo.ts; this file only runs it and exits.
import { runCommand } from "../lib/shared/args";
import { DEMO_COMMAND, runDemoScript } from "../lib/sandbox/commands";

process.exit(await runCommand(DEMO_COMMAND, Bun.argv.slice(2), () => runDemoScript({ exit: (code) => process.exit(code) })));
