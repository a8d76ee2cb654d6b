// `bun run state` (README "Operations"): the store of STATE_DIR as a person needs it, `--json`
// for scripts, `--requeue N` to send a dead letter again.
import type { CommandLine, CommandSpec } from "../shared/args";
import { loadConfigOrThrow } from "../shared/cli";
import { EXIT, MailerError } from "../shared/errors";
import { existsSync } from "node:fs";

const USAGE = `Usage: bun run state [--json] [--requeue TICKET]

Shows what STATE_DIR holds: the last ticket number, tickets issued today, the admin copies queued
in the outbox and the dead letters (with the SMTP server's reason), the collector's checkpoints
and who holds its leases. Reads STATE_DIR and LOG_DIR from .env / .env.local / the environment.

  --json             the same as one JSON object, for scripts
  --requeue TICKET   send the dead letter of this ticket again (it is retried by the next
                     OUTBOX_RETRY round of a running server, or when a server starts)
  --help             this text
  --version          print the version`;

export const STATE_COMMAND: CommandSpec = {
  program: "scripts/state.ts",
  usage: USAGE,
  options: { json: { type: "boolean" }, requeue: { type: "string" } },
};

export async function runState(line: CommandLine, out: (text: string) => void = (t) => console.log(t)): Promise<number> {
  const config = loadConfigOrThrow("state");
  const requeue = line.values.requeue as string | undefined;
  if (requeue !== undefined && !/^\d{5,}$/.test(requeue)) throw new MailerError("usage", `--requeue needs a ticket number (at least 5 digits), got ${JSON.stringify(requeue)}`);
  if (!config.stateDatabaseUrl && !existsSync(config.stateDir)) throw new MailerError("state", `STATE_DIR=${config.stateDir} does not exist — no server or collector has run with it yet`);
  const { openStore } = await import("./index");
  const { gatherReport, renderReport } = await import("./report");
  const store = await openStore({ stateDir: config.stateDir, logDir: config.logDir, databaseUrl: config.stateDatabaseUrl, application: "mailer-state" });
  try {
    for (const notice of store.notices) out(notice);
    if (requeue !== undefined) {
      const n = await store.tickets.requeue(requeue);
      if (n === 0) throw new MailerError("refused", `ticket ${requeue} has no dead letter in ${store.description} — \`bun run state\` lists them`);
      out(`Re-queued the dead letter of ticket ${requeue}: a running server sends it at its next retry (OUTBOX_RETRY), or the next server to start does.`);
      return EXIT.OK;
    }
    const report = await gatherReport(store);
    out(line.values.json ? JSON.stringify(report, null, 2) : renderReport(report));
    return EXIT.OK;
  } finally {
    await store.close();
  }
}
