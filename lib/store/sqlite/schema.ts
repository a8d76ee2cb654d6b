// The SQLite schema and its migrations, in one place. A database's PRAGMA user_version is the
// number of migrations applied; opening a store applies the missing ones in one transaction.
// Never edit a migration that has shipped: add the next one.
//
// Times that are compared in queries are milliseconds since the epoch (INTEGER); times that are
// only shown are ISO strings. Ticket numbers are INTEGERs (all below LAST_TICKET, so exact in
// JavaScript); JSON columns hold what the store returns as written (mail, holders, extra).

export interface Migration {
  version: number;
  what: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    what: "tickets, ledger, outbox, leases, collector checkpoint and log index",
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

      -- the last ticket number issued (one row, name 'ticket')
      CREATE TABLE sequence (name TEXT PRIMARY KEY, last INTEGER NOT NULL) STRICT;

      -- every ticket issued: who asked, when, and whether the person's mail was accepted
      -- (1 accepted, 0 refused, NULL not known: the server stopped while sending it)
      CREATE TABLE ledger (
        ticket INTEGER PRIMARY KEY,
        requester TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        accepted INTEGER
      ) STRICT;

      -- admin copies on their way; a sent or cancelled copy is deleted, a dead one stays
      CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        ticket INTEGER NOT NULL,
        mail TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('held', 'ready', 'sending', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        queued_at TEXT NOT NULL,
        next_attempt_ms INTEGER NOT NULL,
        last_error TEXT,
        dead_at TEXT,
        -- held and sending: the process that has it, and until when no other may take it
        holder TEXT,
        claim_until_ms INTEGER,
        claim_token INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX outbox_due ON outbox (next_attempt_ms) WHERE state IN ('held', 'ready', 'sending');
      CREATE INDEX outbox_ticket ON outbox (ticket);

      -- one row per lease name; a released lease keeps its row so its token only grows
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
      ) STRICT;

      -- the collector's logs, one row per file (LOG_DIR real path + which log), how far indexed
      CREATE TABLE logs (
        id INTEGER PRIMARY KEY,
        dir TEXT NOT NULL,
        name TEXT NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        indexed_to INTEGER NOT NULL DEFAULT 0,
        UNIQUE (dir, name)
      ) STRICT;

      -- every message in those logs: where it was in the mailbox, its digest, where its line is
      CREATE TABLE logged (
        log_id INTEGER NOT NULL REFERENCES logs (id),
        uid_validity INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        sha256 TEXT,
        line_offset INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX logged_uid ON logged (log_id, uid_validity, uid);
      CREATE INDEX logged_sha ON logged (sha256) WHERE sha256 IS NOT NULL;

      -- one checkpoint per mailbox and LOG_DIR; pending and extra are JSON
      CREATE TABLE checkpoints (
        key TEXT PRIMARY KEY,
        uid_validity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL,
        pending TEXT NOT NULL,
        dedupe_up_to INTEGER NOT NULL,
        extra TEXT,
        updated_at TEXT NOT NULL
      ) STRICT;
    `,
  },
];
