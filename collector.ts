// bun collector.ts [--once] [--all] [--debug] — watches the admin's IMAP inbox and appends every
// new message to LOG_DIR/success_request.log or error_request.log (docs/collector.md "Collector and logs").
import { runCommand } from "./lib/shared/args";
import { COLLECTOR_COMMAND, runCollector } from "./lib/collector";

// The parse worker is located from this entry file: inside a compiled binary import.meta.url of a
// lib/ module is the bundle root, and the worker is an extra entry point (scripts/build.ts).
const workerUrl = new URL("./lib/collector/parse-worker.ts", import.meta.url).href;
process.exit(await runCommand(COLLECTOR_COMMAND, Bun.argv.slice(2), (line) => runCollector(line, { exit: (code) => process.exit(code), workerUrl })));
