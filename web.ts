// bun web.ts (bun run web) — the tickets dashboard and web form (docs/web.md "Web pages").
import { runCommand } from "./lib/shared/args";
import { runWeb, WEB_COMMAND } from "./lib/web";

process.exit(await runCommand(WEB_COMMAND, Bun.argv.slice(2), () => runWeb({ exit: (code) => process.exit(code) })));
