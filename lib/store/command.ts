// `bun run state` (README "Operations: `bun run state`"): the store of STATE_DIR as a person needs it, `--json`
// for scripts, `--requeue N` to send a dead letter again, `--rebuild-logs DIR` to write a
// collector's logs anew from the PostgreSQL store's record.
import type { CommandLine, CommandSpec } from "../shared/args";
import { loadConfigOrThrow } from "../shared/cli";
import { EXIT, MailerError } from "../shared/errors";
import { existsSync } from "node:fs";
import type { Config } from "../shared/config";
import type { Store } from "./types";

const USAGE = `Usage: bun run state [--json] [--requeue TICKET] [--rebuild-logs DIR]

Shows what STATE_DIR holds: the last ticket number, tickets issued today, the admin copies queued
in the outbox and the dead letters (with the SMTP server's reason), the collector's checkpoints
and who holds its leases. Reads STATE_DIR and LOG_DIR from .env / .env.local / the environment.

  --json             the same as one JSON object, for scripts
  --requeue TICKET   send the dead letter of this ticket again (it is retried by the next
                     OUTBOX_RETRY round of a running server, or when a server starts)
  --rebuild-logs DIR with STATE_DATABASE_URL: write both logs in DIR anew, complete, from the
                     database's record of the mailbox EMAIL_LOGIN@IMAP_HOST:IMAP_PORT/INBOX
                     (a log that was longer is kept as NAME.replaced-TIME); on a host whose
                     collector is stopped or standing by (a collector that takes over does it
                     by itself)
  --help             this text
  --version          print the version`;

export const STATE_COMMAND: CommandSpec = {
  program: "scripts/state.ts",
  usage: USAGE,
  options: { json: { type: "boolean" }, requeue: { type: "string" }, "rebuild-logs": { type: "string" } },
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
    const rebuild = line.values["rebuild-logs"] as string | undefined;
    if (rebuild !== undefined) return await rebuildFromStore(store, config, rebuild, out);
    const report = await gatherReport(store);
    out(line.values.json ? JSON.stringify(report, null, 2) : renderReport(report));
    return EXIT.OK;
  } finally {
    await store.close();
  }
}

async function rebuildFromStore(store: Store, config: Config, dir: string, out: (text: string) => void): Promise<number> {
  if (!config.stateDatabaseUrl) throw new MailerError("usage", "--rebuild-logs needs STATE_DATABASE_URL: only the PostgreSQL store keeps the collector's entries (with SQLite, LOG_DIR is the record)");
  if (!config.emailLogin || !config.imap.host || !config.imap.port) throw new MailerError("config", "--rebuild-logs needs EMAIL_LOGIN, IMAP_HOST and IMAP_PORT: they name the mailbox whose logs are rebuilt");
  const { mailboxAccount, mailboxScope, rebuildLogs } = await import("../collector/shared-mailbox");
  const account = mailboxAccount(config);
  const n = await rebuildLogs(store, mailboxScope(account), dir);
  out(`Rebuilt the logs in ${dir} from ${store.description}: ${n} entries of ${account}.`);
  return EXIT.OK;
}
