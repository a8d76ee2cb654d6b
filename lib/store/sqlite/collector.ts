// The collector's state on SQLite: its logs (which file, how far indexed), the index of every
// logged message, and one checkpoint per mailbox and LOG_DIR. A commit writes index rows, log
// offsets and the checkpoint in one durable transaction, fenced by the collector's lease.
import type { Database } from "bun:sqlite";
import { StoreError, type CheckpointRecord, type CollectorCommit, type CollectorStore, type LoggedMessage, type LogFile, type LogState } from "../types";
import type { Writer } from "./writer";

interface CheckpointRow {
  key: string;
  uid_validity: number;
  last_uid: number;
  pending: string;
  dedupe_up_to: number;
  extra: string | null;
}

/** SQLite's default limit on bound variables is far above this; chunks keep statements small. */
const CHUNK = 500;

export class SqliteCollector implements CollectorStore {
  constructor(private readonly db: Database, private readonly writer: Writer) {}

  openLogs(files: LogFile[]): Promise<LogState[]> {
    // not durable: rolled back by an OS crash, the same files are simply registered again
    return this.writer.run(() => files.map((f) => this.openLog(f)), { durable: false });
  }

  private openLog(f: LogFile): LogState {
    const row = this.db.query<{ id: number; dev: number; ino: number; indexed_to: number }, [string, string]>("SELECT id, dev, ino, indexed_to FROM logs WHERE dir = ? AND name = ?").get(f.dir, f.name);
    if (!row) {
      const id = this.db.query<{ id: number }, [string, string, number, number]>("INSERT INTO logs (dir, name, dev, ino) VALUES (?, ?, ?, ?) RETURNING id").get(f.dir, f.name, f.dev, f.ino)!.id;
      return { id, name: f.name, offset: 0, reset: true };
    }
    if (row.dev === f.dev && row.ino === f.ino && row.indexed_to <= f.size) return { id: row.id, name: f.name, offset: row.indexed_to, reset: false };
    // another file now, or cut shorter: what the index says about it no longer holds
    this.db.query("DELETE FROM logged WHERE log_id = ?").run(row.id);
    this.db.query("UPDATE logs SET dev = ?, ino = ?, indexed_to = 0 WHERE id = ?").run(f.dev, f.ino, row.id);
    return { id: row.id, name: f.name, offset: 0, reset: true };
  }

  async readCheckpoint(key: string): Promise<CheckpointRecord | null> {
    const row = this.db.query<CheckpointRow, [string]>("SELECT * FROM checkpoints WHERE key = ?").get(key);
    return row ? toCheckpoint(row) : null;
  }

  async checkpoints(): Promise<CheckpointRecord[]> {
    return this.db.query<CheckpointRow, []>("SELECT * FROM checkpoints ORDER BY key").all().map(toCheckpoint);
  }

  commit(c: CollectorCommit): Promise<void> {
    return this.writer.run(() => {
      const lease = this.db.query<{ token: number }, [string]>("SELECT token FROM leases WHERE name = ?").get(c.lease.name);
      if (lease?.token !== c.lease.token) {
        throw new StoreError("fenced", `the collector's lease ${c.lease.name} was taken over by another process; this one must stop`);
      }
      insertLogged(this.db, c.logged);
      const offset = this.db.query("UPDATE logs SET indexed_to = ? WHERE id = ?");
      for (const [id, to] of c.offsets) offset.run(to, id);
      if (c.checkpoint) writeCheckpointRow(this.db, c.checkpoint);
    }, { durable: true });
  }

  async loggedUids(logIds: number[], uidValidity: number, uids: number[]): Promise<Set<number>> {
    const found = new Set<number>();
    if (uids.length === 0 || logIds.length === 0) return found;
    const wanted = new Set(uids);
    let lo = Infinity;
    let hi = -Infinity;
    for (const u of uids) (lo = Math.min(lo, u)), (hi = Math.max(hi, u));
    const rows = this.db
      .query<{ uid: number }, [string, number, number, number]>("SELECT uid FROM logged WHERE log_id IN (SELECT value FROM json_each(?)) AND uid_validity = ? AND uid BETWEEN ? AND ?")
      .values(JSON.stringify(logIds), uidValidity, lo, hi);
    for (const [uid] of rows as unknown as [number][]) if (wanted.has(uid)) found.add(uid);
    return found;
  }

  async maxLoggedUid(logIds: number[], uidValidity: number): Promise<number> {
    let max = 0;
    const q = this.db.query<{ m: number | null }, [number, number]>("SELECT max(uid) AS m FROM logged WHERE log_id = ? AND uid_validity = ?");
    for (const id of logIds) max = Math.max(max, q.get(id, uidValidity)?.m ?? 0);
    return max;
  }

  async digestCounts(logIds: number[], notUidValidity: number, digests: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const q = this.db.query<{ sha256: string; n: number }, [string, number, string]>(
      "SELECT sha256, count(*) AS n FROM logged WHERE sha256 IN (SELECT value FROM json_each(?)) AND uid_validity != ? AND log_id IN (SELECT value FROM json_each(?)) GROUP BY sha256",
    );
    for (let i = 0; i < digests.length; i += CHUNK) {
      for (const r of q.all(JSON.stringify(digests.slice(i, i + CHUNK)), notUidValidity, JSON.stringify(logIds))) counts.set(r.sha256, r.n);
    }
    return counts;
  }
}

function insertLogged(db: Database, rows: LoggedMessage[]): void {
  const q = db.query("INSERT INTO logged (log_id, uid_validity, uid, sha256, line_offset) VALUES (?, ?, ?, ?, ?)");
  for (const m of rows) q.run(m.logId, m.uidValidity, m.uid, m.sha256, m.offset);
}

/** Also used by the import of an old STATE_DIR. */
export function writeCheckpointRow(db: Database, cp: CheckpointRecord): void {
  db.query(
    `INSERT INTO checkpoints (key, uid_validity, last_uid, pending, dedupe_up_to, extra, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, pending = excluded.pending,
       dedupe_up_to = excluded.dedupe_up_to, extra = excluded.extra, updated_at = excluded.updated_at`,
  ).run(cp.key, cp.uidValidity, cp.lastUid, JSON.stringify(cp.pending), cp.dedupeUpTo, cp.extra ? JSON.stringify(cp.extra) : null, new Date().toISOString());
}

function toCheckpoint(r: CheckpointRow): CheckpointRecord {
  return {
    key: r.key,
    uidValidity: r.uid_validity,
    lastUid: r.last_uid,
    pending: JSON.parse(r.pending),
    dedupeUpTo: r.dedupe_up_to,
    ...(r.extra ? { extra: JSON.parse(r.extra) } : {}),
  };
}
