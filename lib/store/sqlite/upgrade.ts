// The import of a STATE_DIR written by the previous version (files we wrote by hand:
// tickets.json, the outbox.jsonl journal, collector-checkpoint.json), once, in the same
// transaction that creates the database. Afterwards the files are renamed aside
// (NAME.imported) and one line says so. Nothing queued is lost (held and pending copies become
// ready, dead letters stay dead) and no number comes back (the sequence starts above the old
// reservation).
import type { Database } from "bun:sqlite";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { MailerError } from "../../shared/errors";
import { holderGone } from "../holder";
import { checkpointKey } from "../keys";
import { FIRST_TICKET, LAST_TICKET, type CheckpointRecord, type StoredMail } from "../types";
import { writeCheckpointRow } from "./collector";

export const LEGACY_FILES = ["tickets.json", "outbox.jsonl", "collector-checkpoint.json"] as const;
const LEGACY_LOCKS = ["server.lock", "collector.lock"];

interface LegacyCopy {
  id: string;
  ticket: string;
  mail: StoredMail;
  at: string;
  attempts: number;
  lastError?: string;
  dead?: { at: string; reason: string };
}

/** Refuses to import while a process of the previous version still runs on this STATE_DIR. */
export function refuseIfOldVersionRuns(stateDir: string): void {
  for (const name of LEGACY_LOCKS) {
    let lock: { pid?: unknown; host?: unknown; started?: unknown };
    try {
      lock = JSON.parse(readFileSync(join(stateDir, name), "utf8"));
    } catch {
      continue;
    }
    if (typeof lock.pid !== "number") continue;
    const h = { pid: lock.pid, host: typeof lock.host === "string" ? lock.host : "", since: String(lock.started ?? "") };
    if (h.host && !holderGone(h)) {
      throw new MailerError("state", `STATE_DIR=${stateDir} is in use by a previous version of Mailer (${name}: pid ${h.pid} on host ${h.host}) — stop it before starting this version, which imports its files`);
    }
  }
}

/** Imports whatever legacy files exist; returns what it imported, for the notice (null: nothing). */
export function importLegacy(db: Database, stateDir: string, logDir: string): string | null {
  const present = LEGACY_FILES.filter((f) => existsSync(join(stateDir, f)));
  if (present.length === 0) return null;
  const parts: string[] = [];
  const reserved = readReserved(stateDir);
  const outbox = readOutbox(stateDir);
  const top = Math.max(reserved, ...outbox.copies.map((c) => Number(c.ticket)).filter(Number.isSafeInteger));
  if (top > LAST_TICKET) throw new MailerError("state", `tickets.json in STATE_DIR=${stateDir} reserves numbers up to ${top}, above ${LAST_TICKET}, the highest this version issues — start a new STATE_DIR`);
  if (top >= FIRST_TICKET) {
    db.query("UPDATE sequence SET last = max(last, ?) WHERE name = 'ticket'").run(top);
    parts.push(`ticket numbers continue after ${top}`);
  }
  insertCopies(db, outbox.copies);
  const dead = outbox.copies.filter((c) => c.dead).length;
  if (existsSync(join(stateDir, "outbox.jsonl"))) parts.push(`${outbox.copies.length - dead} queued admin cop${outbox.copies.length - dead === 1 ? "y" : "ies"} and ${dead} dead letter${dead === 1 ? "" : "s"}${outbox.damaged ? ` (${outbox.damaged} unreadable line(s) left in outbox.jsonl.imported)` : ""}`);
  const cp = readLegacyCheckpoint(stateDir, logDir);
  if (cp) {
    writeCheckpointRow(db, cp);
    parts.push(`the collector checkpoint (UIDVALIDITY ${cp.uidValidity}, last UID ${cp.lastUid})`);
  }
  return `Imported the previous version's state from STATE_DIR=${stateDir}: ${parts.join("; ") || "nothing to keep"}; ${present.join(", ")} renamed to *.imported.`;
}

/** Moves the old files aside once they are imported. */
export function renameLegacy(stateDir: string): void {
  for (const f of [...LEGACY_FILES, ...LEGACY_LOCKS]) {
    const path = join(stateDir, f);
    if (existsSync(path)) renameSync(path, `${path}.imported`);
  }
}

function readReserved(stateDir: string): number {
  const path = join(stateDir, "tickets.json");
  if (!existsSync(path)) return 0;
  const raw = readFileSync(path, "utf8");
  let v: unknown;
  try {
    v = (JSON.parse(raw) as { reservedUpTo?: unknown }).reservedUpTo;
  } catch {}
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new MailerError("state", `cannot import ${path}: it is damaged (${JSON.stringify(raw.slice(0, 80))}); it must hold {"reservedUpTo": N} with N at least the highest ticket issued — fix it by hand (a higher N is always safe)`);
  }
  return v;
}

/** Replays the journal; a line merged with a torn one before it is still found (the defect of
 *  the old journal: an append after a disk-full error glued onto the partial record). */
function readOutbox(stateDir: string): { copies: LegacyCopy[]; damaged: number } {
  const path = join(stateDir, "outbox.jsonl");
  if (!existsSync(path)) return { copies: [], damaged: 0 };
  const live = new Map<string, LegacyCopy>();
  let damaged = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const rec = parseRecord(line);
    if (!rec) {
      damaged++;
      continue;
    }
    applyRecord(live, rec);
  }
  return { copies: [...live.values()], damaged };
}

type Rec = { op: string; id: string; ticket?: string; mail?: StoredMail; at: string; attempts?: number; lastError?: string; reason?: string };

function parseRecord(line: string): Rec | null {
  for (let at = 0; at >= 0; at = line.indexOf('{"op":', at + 1)) {
    try {
      const rec = JSON.parse(line.slice(at)) as Rec;
      if (rec && typeof rec.op === "string" && typeof rec.id === "string") return rec;
    } catch {}
  }
  return null;
}

function applyRecord(live: Map<string, LegacyCopy>, rec: Rec): void {
  const e = live.get(rec.id);
  if (rec.op === "queued" && rec.mail && rec.ticket) {
    live.set(rec.id, { id: rec.id, ticket: rec.ticket, mail: rec.mail, at: rec.at, attempts: rec.attempts ?? 0, lastError: rec.lastError });
  } else if (rec.op === "failed" && e) {
    e.attempts++;
    e.lastError = rec.reason;
  } else if (rec.op === "sent" || rec.op === "cancelled") {
    live.delete(rec.id);
  } else if (rec.op === "dead" && e) {
    e.dead = { at: rec.at, reason: rec.reason ?? "" };
  }
}

function insertCopies(db: Database, copies: LegacyCopy[]): void {
  const q = db.query(
    `INSERT OR IGNORE INTO outbox (id, ticket, mail, state, attempts, queued_at, next_attempt_ms, last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
  );
  for (const c of copies) {
    const mail = { ...c.mail, messageId: c.mail.messageId ?? `<ticket-${c.ticket}.${c.id}@mailer>`, date: c.mail.date ?? c.at };
    q.run(c.id, Number(c.ticket), JSON.stringify(mail), c.dead ? "dead" : "ready", c.attempts, c.at, c.dead?.reason ?? c.lastError ?? null, c.dead?.at ?? null);
  }
}

function readLegacyCheckpoint(stateDir: string, logDir: string): CheckpointRecord | null {
  let v: { account?: unknown; uidValidity?: unknown; lastUid?: unknown; pending?: unknown; dedupeUpTo?: unknown; retries?: unknown };
  try {
    v = JSON.parse(readFileSync(join(stateDir, "collector-checkpoint.json"), "utf8"));
  } catch {
    return null; // absent or damaged: the logs say what is done
  }
  const ints = (x: unknown): x is number[] => Array.isArray(x) && x.every((n) => Number.isInteger(n) && n > 0);
  if (typeof v.account !== "string" || !Number.isInteger(v.uidValidity) || !Number.isInteger(v.lastUid) || !ints(v.pending)) return null;
  // failed fetches of pending UIDs (lib/collector/pending.ts) go on counting: kept as extra.retries,
  // checked by the collector when it reads them
  const retries = v.retries && typeof v.retries === "object" && !Array.isArray(v.retries) ? { extra: { retries: v.retries as Record<string, unknown> } } : {};
  return { key: checkpointKey(v.account, logDir), uidValidity: v.uidValidity as number, lastUid: v.lastUid as number, pending: v.pending, dedupeUpTo: Number.isInteger(v.dedupeUpTo) ? (v.dedupeUpTo as number) : 0, ...retries };
}
