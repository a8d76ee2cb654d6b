// Opening the SQLite store: one database file, STATE_DIR/mailer.db, in WAL mode (durability:
// writer.ts), shared by any number of servers and collectors on this machine. Writers take BEGIN IMMEDIATE (the write
// lock up front, so two transactions never deadlock on an upgrade) and wait up to
// BUSY_TIMEOUT_MS for each other. The file is created 0600 before SQLite opens it (SQLite gives
// its -wal and -shm files the database's mode), never through a symlink, in a directory only we
// can write.
import { Database, constants } from "bun:sqlite";
import { closeSync } from "node:fs";
import { join } from "node:path";
import { MailerError, messageOf } from "../../shared/errors";
import { createExclusive, ensurePrivateDir, refuseSymlink } from "../../shared/safe-fs";
import { FIRST_TICKET, type OpenStoreOptions, type Store } from "../types";
import { SqliteCollector } from "./collector";
import { SqliteLeases } from "./leases";
import { MIGRATIONS } from "./schema";
import { SqliteTickets } from "./tickets";
import { importLegacy, refuseIfOldVersionRuns, renameLegacy } from "./upgrade";
import { Writer } from "./writer";

const DATABASE_FILE = "mailer.db";
const BUSY_TIMEOUT_MS = 10_000;
/** SQLITE_OPEN_NOFOLLOW: the database file may not be a symlink */
const OPEN_NOFOLLOW = 0x01000000;

export function openSqliteStore(o: OpenStoreOptions): Store {
  ensurePrivateDir(o.stateDir, "STATE_DIR");
  const path = join(o.stateDir, DATABASE_FILE);
  for (const suffix of ["", "-wal", "-shm", "-journal"]) refuseSymlink(path + suffix);
  let db: Database;
  try {
    createIfAbsent(path);
    db = new Database(path, constants.SQLITE_OPEN_READWRITE | constants.SQLITE_OPEN_CREATE | OPEN_NOFOLLOW);
  } catch (err) {
    throw new MailerError("state", `cannot open the state database ${path}: ${messageOf(err)} — check that STATE_DIR=${o.stateDir} is a writable directory`, { cause: err });
  }
  try {
    return prepare(db, path, o);
  } catch (err) {
    db.close();
    if (err instanceof MailerError) throw err;
    throw new MailerError("state", `cannot use the state database ${path}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * Retries `fn` while SQLite answers SQLITE_BUSY without waiting: switching a new database to
 * WAL and the first transaction after it can be refused at once (no busy handler on those
 * paths) when several processes open one new STATE_DIR at the same moment.
 */
function whileBusy<T>(fn: () => T): T {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      const code = String((err as { code?: string }).code ?? "");
      if (!code.startsWith("SQLITE_BUSY") || Date.now() > deadline) throw err;
      Bun.sleepSync(5 + Math.random() * 20);
    }
  }
}

function createIfAbsent(path: string): void {
  try {
    closeSync(createExclusive(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}

function prepare(db: Database, path: string, o: OpenStoreOptions): Store {
  db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = whileBusy(() => db.query<{ journal_mode: string }, []>("PRAGMA journal_mode = WAL").get()?.journal_mode);
  if (mode !== "wal") throw new MailerError("state", `the state database ${path} cannot use WAL mode (journal_mode is ${mode}) — is STATE_DIR on a network filesystem?`);
  const where = `the state database ${path}`;
  const writer = new Writer(db, where, `${path}-wal`);
  const notices: string[] = [];
  const id = whileBusy(() => writer.now(() => migrate(db, o, notices)));
  // after the commit: the old files move aside (also when a crash came between the two)
  renameLegacy(o.stateDir);
  const close = async () => {
    // a last turn of the event loop for writes already queued
    await new Promise((r) => setImmediate(r));
    await writer.close();
    db.close();
  };
  return {
    description: `SQLite database ${path}`,
    id,
    tickets: new SqliteTickets(db, writer, id),
    collector: new SqliteCollector(db, writer),
    leases: new SqliteLeases(db, writer),
    notices,
    close,
  };
}

/** Brings the schema up to date, and imports an old STATE_DIR once; in one transaction. */
function migrate(db: Database, o: OpenStoreOptions, notices: string[]): string {
  const version = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
  if (version > MIGRATIONS.length) {
    throw new MailerError("state", `the state database in STATE_DIR=${o.stateDir} was written by a newer version of Mailer (schema ${version}; this one knows ${MIGRATIONS.length}) — run that version`);
  }
  for (const m of MIGRATIONS.slice(version)) db.run(m.sql);
  if (version < MIGRATIONS.length) db.run(`PRAGMA user_version = ${MIGRATIONS.length}`);
  db.query("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)").run(crypto.randomUUID());
  db.query("INSERT OR IGNORE INTO sequence (name, last) VALUES ('ticket', ?)").run(FIRST_TICKET - 1);
  const id = db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'store_id'").get()!.value;
  const done = db.query("SELECT 1 FROM meta WHERE key = 'legacy_import'").get() !== null;
  if (done) return id;
  refuseIfOldVersionRuns(o.stateDir);
  const notice = importLegacy(db, o.stateDir, o.logDir);
  db.query("INSERT INTO meta (key, value) VALUES ('legacy_import', ?)").run(notice ?? "nothing to import");
  if (notice) notices.push(notice);
  return id;
}
