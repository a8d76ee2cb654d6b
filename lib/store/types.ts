// The store: everything the server and the collector keep between runs, behind one interface
// whose every operation is a transaction. SQLite (lib/store/sqlite/, one file in STATE_DIR) is
// the default engine; a second engine (PostgreSQL, for several machines) implements the same
// interface. Every method returns a Promise so that a networked engine fits; an engine may
// group the calls that arrive together into one transaction (group commit) as long as each
// call's promise resolves only once its own effects are durable.
//
// Fencing: a lease carries a token that grows every time the lease changes hands; writes made
// on behalf of a lease holder pass it, and the store refuses them (StoreError "fenced") once
// someone else holds the lease — a holder cut off from the store cannot overwrite its successor.

/** A mail as the store keeps it: the admin's copy (lib/server/smtp.ts OutgoingMail). */
export interface StoredMail {
  from: string;
  to: string;
  replyTo?: string;
  subject: string;
  text: string;
  /** fixed when the copy is created, so every attempt sends the same message */
  messageId: string;
  date: string;
}

/** Who holds a lease or a claim: enough for a person to find the process, and for a process on
 *  the same host to tell that it is gone. */
export interface Holder {
  pid: number;
  host: string;
  /** ISO time the holder started */
  since: string;
  /** /proc/PID/stat start time (clock ticks since boot), when known: tells a reused pid apart */
  startTicks?: number;
}

// ---------------------------------------------------------------- tickets, ledger, outbox

export interface IssueRequest {
  /** the person's address (ASCII form), for the ledger */
  requester: string;
  /** builds the admin's copy once the number is known (subject and Message-ID carry it) */
  adminCopy: (ticket: string) => Omit<StoredMail, "messageId" | "date"> & Partial<Pick<StoredMail, "messageId" | "date">>;
  /** the process that will send the person's mail and then release or cancel the copy */
  holder: Holder;
  /** how long the copy stays held before any process may deliver it (the holder died) */
  holdMs: number;
  now?: Date;
}

export interface IssuedTicket {
  ticket: string;
  copy: OutboxCopy;
}

/** A copy that is sent or cancelled leaves the outbox (the ledger keeps the ticket). */
export type CopyState = "held" | "ready" | "sending" | "dead";

export interface OutboxCopy {
  id: string;
  ticket: string;
  mail: StoredMail;
  state: CopyState;
  attempts: number;
  queuedAt: string;
  nextAttemptAt: string;
  lastError?: string;
  /** for a dead letter: when and why */
  deadAt?: string;
  /** grows with every claim; a delivery record must carry the claim it reports on */
  claimToken: number;
}

export interface ClaimRequest {
  holder: Holder;
  /** how long the claim protects the copy from other processes (then it is taken over) */
  claimMs: number;
  /** at most this many copies */
  limit: number;
  /** only these copies (e.g. the one just released) — otherwise any that is due */
  ids?: string[];
  now?: Date;
}

export type DeliveryRecord =
  | { id: string; claimToken: number; outcome: "sent"; response?: string; at?: Date }
  /** a temporary failure: back to ready, tried again at `retryAt` */
  | { id: string; claimToken: number; outcome: "failed"; error: string; retryAt: Date; at?: Date }
  /** refused permanently: a dead letter, kept and never retried */
  | { id: string; claimToken: number; outcome: "dead"; error: string; at?: Date };

export interface LedgerEntry {
  ticket: string;
  requester: string;
  issuedAt: string;
  /** true: the person's mail was accepted; false: refused (cancelled); null: not known (the
   *  server stopped while sending it) */
  accepted: boolean | null;
}

export interface OutboxSummary {
  held: number;
  ready: number;
  sending: number;
  dead: number;
  /** the copies waiting (held, ready, sending), oldest first, at most `limit` */
  queued: OutboxCopy[];
  /** every dead letter, oldest first */
  deadLetters: OutboxCopy[];
}

export interface TicketStats {
  /** the last number issued, or null before the first */
  lastTicket: string | null;
  /** tickets issued since `since` */
  issuedSince: number;
}

export interface TicketStore {
  /** One transaction: the next number, its ledger row and its admin copy, held. Refuses
   *  (StoreError "exhausted") long before the numbers leave the safe-integer range. */
  issue(req: IssueRequest): Promise<IssuedTicket>;
  /** The person's mail was accepted: the ledger says accepted and the copy becomes ready —
   *  or, with `claimFor`, is claimed by that holder in the same transaction (resolves to it). */
  release(copyId: string, claimFor?: Omit<ClaimRequest, "ids" | "limit">): Promise<OutboxCopy | null>;
  /** The person's mail was refused: the copy is cancelled for good, the ledger says refused. */
  cancel(copyId: string): Promise<void>;
  /** Atomically claims copies that are due: ready with nextAttemptAt ≤ now, or held/sending
   *  whose hold or claim has expired. Two processes never get the same copy at once. */
  claim(req: ClaimRequest): Promise<OutboxCopy[]>;
  /** Records the end of an attempt; ignored (returns false) when the claim is no longer ours. */
  record(rec: DeliveryRecord): Promise<boolean>;
  /** Copies held or claimed by these holders (processes known to be gone) become due now. */
  reclaim(holders: Holder[]): Promise<number>;
  /** The holders of held and sending copies, to check which of them are gone. */
  holders(): Promise<Holder[]>;
  /** Re-queues the dead letter(s) of a ticket; resolves to how many were re-queued. */
  requeue(ticket: string, now?: Date): Promise<number>;
  summary(limit?: number): Promise<OutboxSummary>;
  stats(since: Date): Promise<TicketStats>;
  /** The ledger rows of these numbers (missing numbers were never issued here). */
  ledger(tickets: string[]): Promise<Map<string, LedgerEntry>>;
  /** The first number the ledger covers — numbers below it were issued before the ledger
   *  existed (an imported STATE_DIR) — or null when no ticket was ever issued from this store
   *  (the server keeps its state elsewhere): then the ledger cannot say anything. */
  ledgerStart(): Promise<string | null>;
}

// ---------------------------------------------------------------- rate limits (optional)

export interface RateCheck {
  key: string;
  limit: number;
  windowMs: number;
}

/** Shared sliding-window limits, for engines several servers share across machines. An engine
 *  without it leaves the counting to each server process (lib/server/rate-limit.ts). */
export interface RateStore {
  /** Atomically: when every check has room, counts one event for each and resolves
   *  `{ ok: true }`; otherwise counts nothing and names the first full one. */
  hit(checks: RateCheck[], now?: Date): Promise<{ ok: true } | { ok: false; index: number; retryAfterMs: number }>;
}

// ---------------------------------------------------------------- collector

/** One of the two logs in one LOG_DIR, as the store knows it. */
export interface LogFile {
  /** "success" | "error" — which of the two logs */
  name: string;
  /** the LOG_DIR's real path */
  dir: string;
  /** identity of the file, to notice it was replaced or truncated */
  dev: number;
  ino: number;
  size: number;
}

export interface LogState {
  id: number;
  name: string;
  /** bytes of the log already indexed; reconciliation reads from here to the end */
  offset: number;
  /** the store's index of this log was dropped (file replaced, truncated, first seen) */
  reset: boolean;
}

/** One logged message, as indexed. */
export interface LoggedMessage {
  logId: number;
  uidValidity: number;
  uid: number;
  sha256: string | null;
  /** byte offset of its line in the log */
  offset: number;
  /** the entry's line as written to the log (without the newline): engines that keep the
   *  record themselves (PostgreSQL, several collector hosts) store it */
  line?: string;
}

/** The collector's checkpoint for one mailbox into one LOG_DIR. */
export interface CheckpointRecord {
  /** login@host:port/INBOX → LOG_DIR real path */
  key: string;
  uidValidity: number;
  /** every UID ≤ lastUid is logged, listed in `pending`, or deliberately not taken */
  lastUid: number;
  /** UIDs ≤ lastUid still to be logged, ascending */
  pending: number[];
  /** pending UIDs up to this one are skipped when the logs hold the same source under
   *  another UIDVALIDITY; 0 = none */
  dedupeUpTo: number;
  /** room for more per-check data (kept as JSON, returned as written): e.g. per-UID attempts */
  extra?: Record<string, unknown>;
}

export interface CollectorCommit {
  /** the lease this write is made under (fencing) */
  lease: { name: string; token: number };
  /** messages now durable in the logs */
  logged: LoggedMessage[];
  /** how far each log is indexed after this commit: logId → byte offset */
  offsets: Map<number, number>;
  checkpoint?: CheckpointRecord;
}

export interface CollectorStore {
  /** Registers the logs of a LOG_DIR; a log whose identity changed, or that shrank below its
   *  indexed offset, has its index dropped and starts again from 0. */
  openLogs(files: LogFile[]): Promise<LogState[]>;
  readCheckpoint(key: string): Promise<CheckpointRecord | null>;
  /** One transaction: index rows, log offsets and the checkpoint together (fenced). */
  commit(c: CollectorCommit): Promise<void>;
  /** Of these UIDs, the ones logged under this UIDVALIDITY in these logs. */
  loggedUids(logIds: number[], uidValidity: number, uids: number[]): Promise<Set<number>>;
  maxLoggedUid(logIds: number[], uidValidity: number): Promise<number>;
  /** How many messages with each of these sources were logged under another UIDVALIDITY. */
  digestCounts(logIds: number[], notUidValidity: number, digests: string[]): Promise<Map<string, number>>;
  /** Checkpoints of every mailbox (for `bun run state`). */
  checkpoints(): Promise<CheckpointRecord[]>;
  /** Engines that keep the record (every logged line): the lines of the logs registered under
   *  `dir`, in the order they were committed, to rebuild a LOG_DIR from. */
  records?(dir: string): AsyncIterable<{ name: string; line: string }>;
}

// ---------------------------------------------------------------- leases

export interface Lease {
  name: string;
  holder: Holder;
  token: number;
  /** ISO time it expires unless renewed */
  expiresAt: string;
}

export type LeaseResult = { ok: true; lease: Lease } | { ok: false; holder: Holder; expiresAt: string };

export interface LeaseStore {
  /** Takes the lease when it is free, expired, or `gone(holder)` says its holder has died
   *  (same host, pid gone or a zombie); otherwise names the holder. Atomic: of any number of
   *  processes taking it at once, exactly one succeeds. */
  take(name: string, holder: Holder, ttlMs: number, gone: (h: Holder) => boolean, now?: Date): Promise<LeaseResult>;
  /** Extends it; false when it is no longer ours (expired and taken over). */
  renew(name: string, token: number, ttlMs: number, now?: Date): Promise<boolean>;
  release(name: string, token: number): Promise<void>;
  list(): Promise<Lease[]>;
}

// ---------------------------------------------------------------- the whole store

export interface Store {
  /** for messages: "SQLite database logs/state/mailer.db" */
  readonly description: string;
  /** a random id made when the store was created: what a LOG_DIR marker names */
  readonly id: string;
  readonly tickets: TicketStore;
  readonly collector: CollectorStore;
  readonly leases: LeaseStore;
  /** present on engines shared across machines (see RateStore) */
  readonly rates?: RateStore;
  /** lines to print once (e.g. "imported tickets.json … renamed aside") */
  readonly notices: string[];
  close(): Promise<void>;
}

export type StoreErrorCode =
  /** the database cannot be opened, read or written (disk full, permissions, damaged file) */
  | "io"
  /** a lease-fenced write by a holder that no longer holds the lease */
  | "fenced"
  /** the ticket numbers are used up */
  | "exhausted";

/** Failures of a store operation; engines wrap their own errors in it. */
export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** The first ticket number of a new store, and the highest one a store ever issues: far below
 *  2^53 − 1, so every number stays an exact integer in JavaScript and JSON. */
export const FIRST_TICKET = 10001;
export const LAST_TICKET = Number.MAX_SAFE_INTEGER - 1_000_000;

/** What opening a store needs (lib/store/index.ts openStore). */
export interface OpenStoreOptions {
  stateDir: string;
  /** LOG_DIR: an imported collector checkpoint (old STATE_DIR) is kept under it */
  logDir: string;
  /** STATE_DATABASE_URL: PostgreSQL (lib/store/postgres/) instead of SQLite in STATE_DIR */
  databaseUrl?: string | null;
  /** which program, for the database's session list ("mailer-server") */
  application?: string;
  now?: () => Date;
}
