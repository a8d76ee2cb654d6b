// Names under which the collector's state is kept, the same for every engine and for the
// import of an old STATE_DIR: one checkpoint per mailbox and LOG_DIR, one lease per LOG_DIR.
import { resolve } from "node:path";

/** "login@host:port/INBOX → /abs/logs" */
export function checkpointKey(account: string, logDir: string): string {
  return `${account} → ${resolve(logDir)}`;
}

/** The collector lease: one writer per LOG_DIR, whichever mailbox it collects. */
export function collectorLeaseName(logDir: string): string {
  return `collector ${resolve(logDir)}`;
}
