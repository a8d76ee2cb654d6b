// The PostgreSQL schema and its migrations, in one place. Table schema_migrations lists the
// migrations applied; opening a store applies the missing ones in one transaction under a
// transaction-level advisory lock, so several processes starting together migrate once and the
// others wait and then see the finished schema. Never edit a migration that has shipped: add the
// next one.
//
// Times that are compared in queries are milliseconds since the epoch (bigint); times that are
// only shown are ISO strings (text, returned exactly as written). Ticket numbers come from one
// sequence shared by every server; its MAXVALUE is LAST_TICKET, so nextval() refuses
// (SQLSTATE 2200H) long before the numbers leave the safe-integer range.
import { FIRST_TICKET, LAST_TICKET } from "../types";

export interface PgMigration {
  version: number;
  what: string;
  sql: string;
}

/** The advisory-lock key (bigint form) held while migrating: "mailer-migrate". */
export const MIGRATION_LOCK = 7_236_528_117_042_011_001n;
/** Namespace (first key of the two-int advisory-lock form) of the rate-limit keys. */
export const RATE_LOCK_SPACE = 7_236_528;

export const PG_MIGRATIONS: PgMigration[] = [
  {
    version: 1,
    what: "tickets, ledger, outbox, leases, rate limits, collector checkpoint, log index and entries",
    sql: `
      CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

      CREATE SEQUENCE ticket_seq AS bigint START ${FIRST_TICKET} MINVALUE ${FIRST_TICKET} MAXVALUE ${LAST_TICKET} NO CYCLE;

      CREATE TABLE ledger (
        ticket bigint PRIMARY KEY,
        requester text NOT NULL,
        issued_at text NOT NULL,
        accepted boolean
      );
      CREATE INDEX ledger_issued ON ledger (issued_at);

      -- admin copies on their way; a sent or cancelled copy is deleted, a dead one stays
      CREATE TABLE outbox (
        id text PRIMARY KEY,
        ticket bigint NOT NULL,
        mail jsonb NOT NULL,
        state text NOT NULL CHECK (state IN ('held', 'ready', 'sending', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        queued_at text NOT NULL,
        next_attempt_ms bigint NOT NULL,
        last_error text,
        dead_at text,
        holder jsonb,
        claim_until_ms bigint,
        claim_token bigint NOT NULL DEFAULT 0
      );
      -- the two kinds of due copy, each with a partial index (claims scan only these rows)
      CREATE INDEX outbox_ready ON outbox (next_attempt_ms) WHERE state = 'ready';
      CREATE INDEX outbox_claimed ON outbox (claim_until_ms) WHERE state IN ('held', 'sending');
      CREATE INDEX outbox_ticket ON outbox (ticket);

      -- one row per lease name; the token grows with every change of hands
      CREATE TABLE leases (
        name text PRIMARY KEY,
        holder jsonb NOT NULL,
        token bigint NOT NULL,
        expires_ms bigint NOT NULL
      );

      -- sliding-window rate limits shared by every server: one row per counted event
      CREATE TABLE rate_events (key text NOT NULL, at_ms bigint NOT NULL);
      CREATE INDEX rate_events_key ON rate_events (key, at_ms);

      CREATE TABLE logs (
        id bigserial PRIMARY KEY,
        dir text NOT NULL,
        name text NOT NULL,
        dev bigint NOT NULL,
        ino bigint NOT NULL,
        indexed_to bigint NOT NULL DEFAULT 0,
        UNIQUE (dir, name)
      );

      CREATE TABLE logged (
        log_id bigint NOT NULL REFERENCES logs (id),
        uid_validity bigint NOT NULL,
        uid bigint NOT NULL,
        sha256 text,
        line_offset bigint NOT NULL
      );
      CREATE INDEX logged_uid ON logged (log_id, uid_validity, uid);
      CREATE INDEX logged_sha ON logged (sha256) WHERE sha256 IS NOT NULL;

      CREATE TABLE checkpoints (
        key text PRIMARY KEY,
        uid_validity bigint NOT NULL,
        last_uid bigint NOT NULL,
        pending jsonb NOT NULL,
        dedupe_up_to bigint NOT NULL,
        extra jsonb,
        updated_at text NOT NULL
      );

      -- the collector's record in this mode: every line of both logs, in order; a host that
      -- takes a mailbox over rebuilds its LOG_DIR from here (bun run state --rebuild-logs)
      CREATE TABLE entries (
        seq bigserial PRIMARY KEY,
        log_id bigint NOT NULL REFERENCES logs (id),
        uid_validity bigint NOT NULL,
        uid bigint NOT NULL,
        line text NOT NULL,
        UNIQUE (log_id, uid_validity, uid)
      );

      -- Atomically: when every key has room, one event is counted for each; otherwise nothing
      -- is, and the first full key's index (0-based) and when it has room again are returned.
      -- The keys are locked in sorted order, so two servers never wait for each other in a circle.
      CREATE FUNCTION rate_hit(keys text[], limits integer[], windows bigint[], now_ms bigint)
      RETURNS TABLE (full_index integer, retry_after_ms bigint) LANGUAGE plpgsql AS $$
      DECLARE
        i integer;
        n integer;
        oldest bigint;
      BEGIN
        PERFORM pg_advisory_xact_lock(${RATE_LOCK_SPACE}, hashtext(k)) FROM (SELECT DISTINCT k FROM unnest(keys) k ORDER BY k) s;
        FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
          DELETE FROM rate_events WHERE key = keys[i] AND at_ms <= now_ms - windows[i];
          SELECT count(*), min(at_ms) INTO n, oldest FROM rate_events WHERE key = keys[i];
          IF n >= limits[i] THEN
            full_index := i - 1;
            retry_after_ms := oldest + windows[i] - now_ms;
            RETURN NEXT;
            RETURN;
          END IF;
        END LOOP;
        INSERT INTO rate_events (key, at_ms) SELECT k, now_ms FROM unnest(keys) k;
        -- now and then, the events of keys nobody uses any more
        IF random() < 0.001 THEN
          DELETE FROM rate_events WHERE at_ms <= now_ms - greatest((SELECT max(w) FROM unnest(windows) w), 86400000);
        END IF;
      END $$;
    `,
  },
  {
    version: 2,
    what: "rate_hit_many: the rate-limit hits of several requests in one call (group commit)",
    sql: `
      -- rate_hit for several requests at once, as if one after another in the order given: the
      -- checks are flattened, reqs[i] naming the request of check i (a request's checks next to
      -- each other), now_ms[i] its time. Returns a row for each refused request. Every key of
      -- the batch is locked first, in sorted order, so batches of two servers never wait for
      -- each other in a circle.
      CREATE FUNCTION rate_hit_many(reqs integer[], keys text[], limits integer[], windows bigint[], now_ms bigint[])
      RETURNS TABLE (req integer, full_index integer, retry_after_ms bigint) LANGUAGE plpgsql AS $$
      DECLARE
        total integer := coalesce(array_length(keys, 1), 0);
        i integer := 1;
        j integer;
        n integer;
        oldest bigint;
        refused boolean;
      BEGIN
        PERFORM pg_advisory_xact_lock(${RATE_LOCK_SPACE}, hashtext(k)) FROM (SELECT DISTINCT k FROM unnest(keys) k ORDER BY k) s;
        WHILE i <= total LOOP
          refused := false;
          j := i;
          WHILE j <= total AND reqs[j] = reqs[i] LOOP
            IF NOT refused THEN
              DELETE FROM rate_events WHERE key = keys[j] AND at_ms <= now_ms[j] - windows[j];
              SELECT count(*), min(at_ms) INTO n, oldest FROM rate_events WHERE key = keys[j];
              IF n >= limits[j] THEN
                req := reqs[i];
                full_index := j - i;
                retry_after_ms := oldest + windows[j] - now_ms[j];
                RETURN NEXT;
                refused := true;
              END IF;
            END IF;
            j := j + 1;
          END LOOP;
          IF NOT refused THEN
            INSERT INTO rate_events (key, at_ms) SELECT keys[x], now_ms[x] FROM generate_series(i, j - 1) x;
          END IF;
          i := j;
        END LOOP;
        IF random() < 0.001 THEN
          DELETE FROM rate_events WHERE at_ms <= (SELECT max(t) FROM unnest(now_ms) t) - greatest((SELECT max(w) FROM unnest(windows) w), 86400000);
        END IF;
      END $$;
    `,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.at(-1)!.version;
