// Group commit for SQLite: write operations that arrive together (in one turn of the event
// loop) run in ONE `BEGIN IMMEDIATE` transaction, each inside a savepoint of its own — one
// failing (a constraint, a number range) fails only itself, while a failed COMMIT (disk full,
// I/O error) fails all of them and leaves nothing behind: SQLite's WAL ignores frames of a
// transaction that never committed, so nothing torn can swallow a later write.
//
// Durability: transactions commit with synchronous=NORMAL (the WAL frames are written, not yet
// fsync'd: a kill -9 keeps them, the page cache has them). An operation marked durable resolves
// only once the WAL has been fdatasync'd after its commit — what synchronous=FULL does inside
// COMMIT, but on libuv's thread pool instead of the event loop, and one fdatasync covering
// every commit before it (a sync in flight is joined by the next one). Operations not marked
// durable (a delivery record, a release) resolve at commit: an OS crash may roll them back to an
// older state that is still correct.
import type { Database } from "bun:sqlite";
import { closeSync, fdatasync, fsyncSync } from "node:fs";
import { openReadNoFollow } from "../../shared/safe-fs";
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
  private walFd: number | null = null;
  private syncing: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;

  /** @param walPath the database's -wal file, fdatasync'd for durable operations */
  constructor(private readonly db: Database, private readonly where: string, private readonly walPath: string) {
    db.run("PRAGMA synchronous = NORMAL");
  }

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

  /** Runs `fn` in a transaction of its own, now, durably (start-up work: migrations, import). */
  now<T>(fn: () => T): T {
    this.db.run("BEGIN IMMEDIATE");
    let v: T;
    try {
      v = fn();
      this.db.run("COMMIT");
    } catch (err) {
      this.rollback();
      throw err;
    }
    fsyncSync(this.wal());
    return v;
  }

  /** Closes the -wal descriptor (the database itself is closed by its owner). */
  close(): Promise<void> {
    const fd = this.walFd;
    this.walFd = null;
    return (this.nextSync ?? this.syncing ?? Promise.resolve()).catch(() => {}).then(() => {
      if (fd !== null) closeSync(fd);
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const results: ({ ok: true; v: unknown } | { ok: false; e: unknown })[] = [];
    try {
      this.db.run("BEGIN IMMEDIATE");
      for (const op of batch) results.push(this.savepoint(op));
      this.db.run("COMMIT");
    } catch (err) {
      this.rollback();
      const e = ioError(err, this.where);
      for (const op of batch) op.reject(e);
      return;
    }
    const synced = batch.some((op) => op.durable) ? this.synced() : null;
    batch.forEach((op, i) => {
      const r = results[i]!;
      if (!r.ok) op.reject(r.e);
      else if (op.durable) synced!.then(() => op.resolve(r.v), (err) => op.reject(ioError(err, this.where)));
      else op.resolve(r.v);
    });
  }

  /** Resolves once everything committed before the call is on disk (see the top of the file). */
  private synced(): Promise<void> {
    if (!this.syncing) {
      this.syncing = new Promise<void>((resolve, reject) => fdatasync(this.wal(), (err) => (err ? reject(err) : resolve()))).finally(() => {
        this.syncing = null;
      });
      return this.syncing;
    }
    this.nextSync ??= this.syncing
      .catch(() => {})
      .then(() => {
        this.nextSync = null;
        return this.synced();
      });
    return this.nextSync;
  }

  private wal(): number {
    this.walFd ??= openReadNoFollow(this.walPath);
    return this.walFd;
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
