// POP3 has unique ids (UIDL: opaque strings) where the collector wants IMAP-style numeric UIDs
// under a UIDVALIDITY. The map gives each UIDL, the first time it is seen, the next number —
// durably stored BEFORE the number is handed out, so a number never comes back for another
// message (a kill -9 at any moment loses at most numbers nobody was told). Message numbers
// (1..n, renumbered in every session) play no part: UIDL decides.
//
// FileUidMap keeps it in STATE_DIR as JSON Lines, appended and fsync'd: a header line with the
// account and a uidValidity chosen at random when the map is created (a lost map is a new
// mailbox to the collector: its checkpoint no longer matches and it re-scans, skipping what the
// log holds by digest, as after an IMAP UIDVALIDITY change), then one line per UIDL. Behind the
// UidMap interface, so that a database store can keep it instead.
import { createHash, randomInt } from "node:crypto";
import { existsSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { JsonlAppender } from "../../shared/jsonl";
import { MailerError } from "../../shared/errors";
import { writeFileDurably } from "../../shared/durable-file";

export interface UidMap {
  /** constant for the life of the map */
  readonly uidValidity: number;
  /** The UID of each UIDL, in the same order; UIDLs not seen before get the next numbers
   *  (in the order given), stored durably before this resolves. */
  assign(uidls: string[]): Promise<number[]>;
  close(): void;
}

interface Header {
  account: string;
  uidValidity: number;
}

/** STATE_DIR file name for an account: one map per POP3 account, switching back and forth keeps each. */
export function uidMapFile(account: string): string {
  return `pop3-uidl-${createHash("sha256").update(account).digest("hex").slice(0, 16)}.jsonl`;
}

export class FileUidMap implements UidMap {
  private constructor(
    readonly uidValidity: number,
    private readonly uids: Map<string, number>,
    private next: number,
    private readonly appender: JsonlAppender,
  ) {}

  /** Reads (or creates) the map of `account` in `stateDir`. Throws MailerError("state") on a file it cannot trust. */
  static open(stateDir: string, account: string): FileUidMap {
    const name = uidMapFile(account);
    const path = join(stateDir, name);
    try {
      if (!existsSync(path)) {
        const header: Header = { account, uidValidity: randomInt(1, 2 ** 31) };
        writeFileDurably(stateDir, name, JSON.stringify(header) + "\n");
      }
      const { header, uids, next } = load(path, account);
      return new FileUidMap(header.uidValidity, uids, next, new JsonlAppender(path));
    } catch (err) {
      if (err instanceof MailerError) throw err;
      throw new MailerError("state", `cannot use the POP3 UID map ${path}: ${(err as Error).message} — check that STATE_DIR=${stateDir} is readable and writable`);
    }
  }

  async assign(uidls: string[]): Promise<number[]> {
    const added: { uidl: string; uid: number }[] = [];
    const out = uidls.map((uidl) => {
      let uid = this.uids.get(uidl);
      if (uid === undefined) {
        uid = this.next++;
        this.uids.set(uidl, uid);
        added.push({ uidl, uid });
      }
      return uid;
    });
    try {
      // one write, fdatasync'd before any number is handed out
      if (added.length) {
        this.appender.write(added);
        await this.appender.sync();
      }
    } catch (err) {
      // not stored: forget them, so nobody gets a number that a restart could give to another
      for (const a of added) this.uids.delete(a.uidl);
      this.next -= added.length;
      throw new MailerError("local", `cannot write the POP3 UID map ${this.appender.path}: ${(err as Error).message} — check free space and permissions of STATE_DIR`);
    }
    return out;
  }

  close(): void {
    this.appender.close();
  }
}

function load(path: string, account: string): { header: Header; uids: Map<string, number>; next: number } {
  let text = readFileSync(path, "utf8");
  // a line cut by a crash was never fsync'd, so none of its numbers was handed out: drop it
  const end = text.lastIndexOf("\n") + 1;
  if (end < text.length) {
    truncateSync(path, Buffer.byteLength(text.slice(0, end)));
    text = text.slice(0, end);
  }
  const lines = text.split("\n").filter(Boolean);
  const header = parse(lines[0]) as Header | null;
  if (!header || header.account !== account || !Number.isInteger(header.uidValidity)) {
    throw new MailerError("state", `${path} is not the POP3 UID map of ${account} — it was edited or copied; move it away to start a new map (the collector then re-scans the mailbox, skipping what the log holds)`);
  }
  const uids = new Map<string, number>();
  let next = 1;
  for (let i = 1; i < lines.length; i++) {
    const e = parse(lines[i]) as { uidl?: unknown; uid?: unknown } | null;
    if (!e || typeof e.uidl !== "string" || !Number.isInteger(e.uid) || (e.uid as number) < next) {
      throw new MailerError("state", `${path} line ${i + 1} is damaged — move the file away to start a new map (the collector then re-scans the mailbox, skipping what the log holds)`);
    }
    uids.set(e.uidl, e.uid as number);
    next = (e.uid as number) + 1;
  }
  return { header, uids, next };
}

function parse(line: string | undefined): unknown {
  try {
    return line === undefined ? null : JSON.parse(line);
  } catch {
    return null;
  }
}
