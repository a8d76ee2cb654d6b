// `bun run sandbox`: the embedded SMTP + IMAP sandbox on the configured ports until a signal.
import { loadConfigOrThrow } from "../shared/cli";
import { EXIT, MailerError } from "../shared/errors";
import { onStopSignals, type StopSignal } from "../shared/shutdown";
import type { ScriptIo } from "./commands";
import { describeSandbox, SandboxPortError, sandboxConfigProblems, startSandbox, type Sandbox } from "./index";

export async function serveSandbox(io: ScriptIo): Promise<number> {
  const config = loadConfigOrThrow("sandbox");
  const problems = sandboxConfigProblems(config);
  if (problems.length) throw new MailerError("config", `Cannot start the sandbox with this configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);

  const say = (line: string) => console.log(`[sandbox] ${line}`);
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox(config, { onOtherMail: say, onAdminMail: say }, { webPort: config.sandboxWebPort });
  } catch (err) {
    if (err instanceof SandboxPortError) throw new MailerError("config", `Cannot start the sandbox: ${err.message}`);
    throw err;
  }
  // the handlers before the lines a person or a script waits for (a signal without one kills)
  const stopped = new Promise<StopSignal>((resolve) => onStopSignals({ stop: resolve, exit: io.exit, log: say }));
  for (const line of describeSandbox(config, sandbox)) say(line);
  say("press Ctrl-C to stop");
  const signal = await stopped;
  await sandbox.close();
  say(`stopped (${signal})`);
  return EXIT.OK;
}
