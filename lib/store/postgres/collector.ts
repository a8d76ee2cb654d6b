// The collector's state on PostgreSQL: logs, their index, checkpoints — and, unlike SQLite, the
// record itself: every logged line (table entries), so that a collector on another host that
// takes the mailbox over continues from the same checkpoint and index, and can rebuild its
// LOG_DIR completely. The database being the record, a log file whose identity changed (another
// host's file, a rebuilt one) keeps its index: nothing is dropped, nothing is read back.
import type { SQL, TransactionSQL } from "bun";
import { StoreError, type CheckpointRecord, type CollectorCommit, type CollectorStore, type LoggedMessage, type LogFile, type LogState } from "../types";
import { op } from "./connect";

interface CheckpointRow {
  key: string;
  uid_validity: string;
  last_uid: string;
  pending: number[];
  dedupe_up_to: string;
  extra: Record<string, unknown> | null;
}

interface LogRow {
  id: string;
  dev: string;
  ino: string;
  indexed_to: string;
}

export class PgCollector implements CollectorStore {
  constructor(private readonly sql: SQL, private readonly where: string) {}

  openLogs(files: LogFile[]): Promise<LogState[]> {
    return op(this.where, "register the collector's logs", () => this.sql.begin(async (tx) => Promise.all(files.map((f) => openLog(tx, f)))));
  }

  readCheckpoint(key: string): Promise<CheckpointRecord | null> {
    return op(this.where, "read the collector's checkpoint", async () => {
      const [row] = (await this.sql.unsafe(`SELECT * FROM checkpoints WHERE key = $1`, [key])) as CheckpointRow[];
      return row ? toCheckpoint(row) : null;
    });
  }

  checkpoints(): Promise<CheckpointRecord[]> {
    return op(this.where, "read the collector's checkpoints", async () => ((await this.sql.unsafe(`SELECT * FROM checkpoints ORDER BY key`)) as CheckpointRow[]).map(toCheckpoint));
  }

  commit(c: CollectorCommit): Promise<void> {
    return op(this.where, "write the collector's state", () =>
      this.sql.begin(async (tx) => {
        // fencing: the lease row is locked against a takeover for the rest of this transaction
        const [lease] = (await tx.unsafe(`SELECT token FROM leases WHERE name = $1 FOR SHARE`, [c.lease.name])) as { token: string }[];
        if (!lease || Number(lease.token) !== c.lease.token) {
          throw new StoreError("fenced", `the collector's lease ${c.lease.name} was taken over by another process; this one must stop`);
        }
        await insertLogged(tx, c.logged);
        for (const [id, to] of c.offsets) await tx.unsafe(`UPDATE logs SET indexed_to = $2 WHERE id = $1`, [id, to]);
        if (c.checkpoint) await writeCheckpoint(tx, c.checkpoint);
      }),
    );
  }

  loggedUids(logIds: number[], uidValidity: number, uids: number[]): Promise<Set<number>> {
    return op(this.where, "read the log index", async () => {
      if (uids.length === 0 || logIds.length === 0) return new Set<number>();
      const rows = (await this.sql.unsafe(`SELECT DISTINCT uid FROM logged WHERE log_id = ANY($1::bigint[]) AND uid_validity = $2 AND uid = ANY($3::bigint[])`, [logIds, uidValidity, uids])) as {
        uid: string;
      }[];
      return new Set(rows.map((r) => Number(r.uid)));
    });
  }

  maxLoggedUid(logIds: number[], uidValidity: number): Promise<number> {
    return op(this.where, "read the log index", async () => {
      const [row] = (await this.sql.unsafe(`SELECT max(uid) AS m FROM logged WHERE log_id = ANY($1::bigint[]) AND uid_validity = $2`, [logIds, uidValidity])) as { m: string | null }[];
      return Number(row?.m ?? 0);
    });
  }

  digestCounts(logIds: number[], notUidValidity: number, digests: string[]): Promise<Map<string, number>> {
    return op(this.where, "read the log index", async () => {
      const counts = new Map<string, number>();
      if (digests.length === 0) return counts;
      const rows = (await this.sql.unsafe(
        `SELECT sha256, count(*)::int AS n FROM logged WHERE sha256 = ANY($1::text[]) AND uid_validity != $2 AND log_id = ANY($3::bigint[]) GROUP BY sha256`,
        [digests, notUidValidity, logIds],
      )) as { sha256: string; n: number }[];
      for (const r of rows) counts.set(r.sha256, r.n);
      return counts;
    });
  }

  /** Every line of the logs registered under `dir`, in commit order, a page at a time. */
  async *records(dir: string): AsyncIterable<{ name: string; line: string }> {
    let after = 0;
    for (;;) {
      const rows = (await op(this.where, "read the collector's entries", () =>
        this.sql.unsafe(`SELECT e.seq, l.name, e.line FROM entries e JOIN logs l ON l.id = e.log_id WHERE l.dir = $1 AND e.seq > $2 ORDER BY e.seq LIMIT 5000`, [dir, after]),
      )) as { seq: string; name: string; line: string }[];
      if (rows.length === 0) return;
      for (const r of rows) yield { name: r.name, line: r.line };
      after = Number(rows.at(-1)!.seq);
    }
  }
}

async function openLog(tx: TransactionSQL, f: LogFile): Promise<LogState> {
  const [row] = (await tx.unsafe(
    `INSERT INTO logs (dir, name, dev, ino) VALUES ($1, $2, $3, $4) ON CONFLICT (dir, name) DO UPDATE SET dir = excluded.dir RETURNING id, dev, ino, indexed_to, (xmax = 0) AS fresh`,
    [f.dir, f.name, f.dev, f.ino],
  )) as (LogRow & { fresh: boolean })[];
  const id = Number(row!.id);
  if (row!.fresh) return { id, name: f.name, offset: 0, reset: true };
  if (Number(row!.dev) === f.dev && Number(row!.ino) === f.ino && Number(row!.indexed_to) <= f.size) return { id, name: f.name, offset: Number(row!.indexed_to), reset: false };
  // another file (another host's, or one rebuilt from here): the database keeps the record, so
  // the index stays; this file is indexed from its end on
  await tx.unsafe(`UPDATE logs SET dev = $2, ino = $3, indexed_to = $4 WHERE id = $1`, [id, f.dev, f.ino, f.size]);
  return { id, name: f.name, offset: f.size, reset: false };
}

async function insertLogged(tx: TransactionSQL, rows: LoggedMessage[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <K extends keyof LoggedMessage>(k: K) => rows.map((r) => r[k] ?? null);
  await tx.unsafe(
    `INSERT INTO logged (log_id, uid_validity, uid, sha256, line_offset) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])`,
    [col("logId"), col("uidValidity"), col("uid"), col("sha256"), col("offset")],
  );
  const withLine = rows.filter((r) => r.line !== undefined);
  if (withLine.length === 0) return;
  // a message logged twice in one log stays one record (the first line)
  await tx.unsafe(
    `INSERT INTO entries (log_id, uid_validity, uid, line) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING`,
    [withLine.map((r) => r.logId), withLine.map((r) => r.uidValidity), withLine.map((r) => r.uid), withLine.map((r) => r.line!)],
  );
}

async function writeCheckpoint(tx: TransactionSQL, cp: CheckpointRecord): Promise<void> {
  await tx.unsafe(
    `INSERT INTO checkpoints (key, uid_validity, last_uid, pending, dedupe_up_to, extra, updated_at) VALUES ($1, $2, $3, $4::text::jsonb, $5, $6::text::jsonb, $7)
     ON CONFLICT (key) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, pending = excluded.pending,
       dedupe_up_to = excluded.dedupe_up_to, extra = excluded.extra, updated_at = excluded.updated_at`,
    [cp.key, cp.uidValidity, cp.lastUid, JSON.stringify(cp.pending), cp.dedupeUpTo, cp.extra ? JSON.stringify(cp.extra) : null, new Date().toISOString()],
  );
}

function toCheckpoint(r: CheckpointRow): CheckpointRecord {
  return {
    key: r.key,
    uidValidity: Number(r.uid_validity),
    lastUid: Number(r.last_uid),
    pending: r.pending,
    dedupeUpTo: Number(r.dedupe_up_to),
    ...(r.extra ? { extra: r.extra } : {}),
  };
}
