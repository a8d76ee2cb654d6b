// `bun run sandbox`: the embedded SMTP + IMAP sandbox on the .env ports until Ctrl-C.
import { configOrExit, EXIT, fail } from "../lib/shared/cli";
import { describeSandbox, SandboxPortError, sandboxConfigProblems, startSandbox, type Sandbox } from "../lib/sandbox";

const config = configOrExit("sandbox");
const problems = sandboxConfigProblems(config);
if (problems.length) fail(`Cannot start the sandbox with this configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`, EXIT.USAGE);

const say = (line: string) => console.log(`[sandbox] ${line}`);
let sandbox: Sandbox;
try {
  sandbox = await startSandbox(config, { onOtherMail: say, onAdminMail: say }, { webPort: config.sandboxWebPort });
} catch (err) {
  if (err instanceof SandboxPortError) fail(`Cannot start the sandbox: ${err.message}`, EXIT.USAGE);
  throw err;
}
for (const line of describeSandbox(config, sandbox)) say(line);
say("press Ctrl-C to stop");

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  await sandbox.close();
  say(`stopped (${signal})`);
  process.exit(EXIT.OK);
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void stop(signal));
