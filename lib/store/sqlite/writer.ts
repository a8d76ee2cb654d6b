// Group commit for SQLite: write operations that arrive together (in one turn of the event
// loop) run in ONE `BEGIN IMMEDIATE` transaction, each inside a savepoint of its own — one
// failing (a constraint, a number range) fails only itself, while a failed COMMIT (disk full,
// I/O error) fails all of them and leaves nothing behind: SQLite's WAL ignores frames of a
// transaction that never committed, so nothing torn can swallow a later write.
//
// Durability: a batch holding any operation marked durable commits with synchronous=FULL (the
// WAL is fsync'd before COMMIT returns); other batches commit with NORMAL — they survive a
// kill -9 (the WAL is in the page cache) but an OS crash may roll them back, for operations
// where an older state is still correct (a delivery record, a release).
import type { Database } from "bun:sqlite";
import { StoreError } from "../types";

interface Op {
  fn: () => unknown;
  durable: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class Writer {
  private queue: Op[] = [];
  private scheduled = false;
  private synchronous: "FULL" | "NORMAL" | null = null;

  constructor(private readonly db: Database, private readonly where: string) {}

  /** Runs `fn` inside the next group transaction; resolves once that has committed. */
  run<T>(fn: () => T, o: { durable: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, durable: o.durable, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs `fn` in a transaction of its own, now (start-up work: migrations, import). */
  now<T>(fn: () => T): T {
    this.setSynchronous("FULL");
    this.db.run("BEGIN IMMEDIATE");
    try {
      const v = fn();
      this.db.run("COMMIT");
      return v;
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const results: ({ ok: true; v: unknown } | { ok: false; e: unknown })[] = [];
    try {
      this.setSynchronous(batch.some((op) => op.durable) ? "FULL" : "NORMAL");
      this.db.run("BEGIN IMMEDIATE");
      for (const op of batch) results.push(this.savepoint(op));
      this.db.run("COMMIT");
    } catch (err) {
      this.rollback();
      const e = ioError(err, this.where);
      for (const op of batch) op.reject(e);
      return;
    }
    batch.forEach((op, i) => {
      const r = results[i]!;
      if (r.ok) op.resolve(r.v);
      else op.reject(r.e);
    });
  }

  private savepoint(op: Op): { ok: true; v: unknown } | { ok: false; e: unknown } {
    this.db.run("SAVEPOINT op");
    try {
      const v = op.fn();
      this.db.run("RELEASE op");
      return { ok: true, v };
    } catch (e) {
      this.db.run("ROLLBACK TO op");
      this.db.run("RELEASE op");
      // a full disk or an I/O error inside one op ends the whole batch: nothing may commit half
      if (!(e instanceof StoreError)) throw e;
      return { ok: false, e };
    }
  }

  private setSynchronous(level: "FULL" | "NORMAL"): void {
    if (this.synchronous === level) return;
    this.db.run(`PRAGMA synchronous = ${level}`);
    this.synchronous = level;
  }

  private rollback(): void {
    try {
      this.db.run("ROLLBACK");
    } catch {} // no transaction open (BEGIN itself failed)
  }
}

/** An engine error as a StoreError "io", with the database named. */
export function ioError(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: string; message?: string };
  const hint = e.code === "SQLITE_FULL" ? " (the disk is full)" : e.code === "SQLITE_BUSY" ? " (another process kept the database locked)" : "";
  return new StoreError("io", `cannot write ${where}: ${e.message ?? String(err)}${hint}`, { cause: err });
}
