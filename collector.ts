// bun collector.ts [--once] [--all] [--debug] — watches the admin's IMAP inbox and appends every
// new message to LOG_DIR/success_request.log or error_request.log (README "Collector and logs").
import { runCommand } from "./lib/shared/args";
import { COLLECTOR_COMMAND, runCollector } from "./lib/collector";

process.exit(await runCommand(COLLECTOR_COMMAND, Bun.argv.slice(2), (line) => runCollector(line, { exit: (code) => process.exit(code) })));
