// A fresh UIDVALIDITY for each sandbox start, unique across processes on this machine.
// Seconds since the epoch alone are not enough: `bun run demo && bun run demo` starts two
// sandboxes within one second, the second inbox would get the same UIDVALIDITY, and the
// collector's checkpoint (uid 1 already done) would hide the new uid 1 for good. So the last
// value handed out is remembered in a small file, and each start takes max(now, last + 1).
// RFC 3501 wants a new value greater than the one before; this gives that too.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The name the sandbox gives in its IMAP ID answer: the collector reads a new UIDVALIDITY from it
 *  as the sandbox's normal fresh start, not as a renumbered real mailbox. (Here, not in imap.ts,
 *  so that the collector does not load hoodiecrow.) */
export const SANDBOX_IMAP_NAME = "Mailer sandbox";

const MAX = 0xffffffff; // UIDVALIDITY is a 32-bit nz-number

export function defaultUidValidityFile(): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  return join(tmpdir(), `mailer-sandbox-uidvalidity-${uid}`);
}

/** Next UIDVALIDITY: at least the current second, above every value recorded in `file`. */
export function nextUidValidity(file = defaultUidValidityFile(), nowMs = Date.now()): number {
  let last = 0;
  try {
    last = Number.parseInt(readFileSync(file, "utf8"), 10) || 0;
  } catch {} // first start on this machine, or unreadable: the clock alone decides
  let value = Math.max(Math.floor(nowMs / 1000), last + 1);
  if (value > MAX) value = 1; // year 2106, or a corrupt file: start over rather than fail
  try {
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, String(value));
    renameSync(tmp, file); // atomic: a concurrent reader sees the old or the new value
  } catch {} // a read-only temp dir only loses the cross-process guarantee
  return value;
}
