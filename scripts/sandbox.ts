// `bun run sandbox` (docs/sandbox.md "Sandbox and demo"). The script is lib/sandbox/serve.ts; this file only runs it and exits.
import { runCommand } from "../lib/shared/args";
import { SANDBOX_COMMAND, runSandboxScript } from "../lib/sandbox/commands";

process.exit(await runCommand(SANDBOX_COMMAND, Bun.argv.slice(2), () => runSandboxScript({ exit: (code) => process.exit(code) })));
