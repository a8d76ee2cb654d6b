// What `bun run state` shows: the store as a person running Mailer needs it — the last ticket,
// tickets today, the outbox (queued copies, dead letters with their reasons), the collector's
// checkpoints and who holds its leases. Gathered once, printed as text or as JSON.
import { describeHolder, holderGone } from "./holder";
import type { CheckpointRecord, Lease, OutboxCopy, Store } from "./types";

export interface StateReport {
  store: string;
  lastTicket: string | null;
  ticketsToday: number;
  outbox: {
    held: number;
    ready: number;
    sending: number;
    dead: number;
    queued: CopyLine[];
    deadLetters: CopyLine[];
  };
  checkpoints: { mailbox: string; uidValidity: number; lastUid: number; pending: number }[];
  leases: (Omit<Lease, "token"> & { active: boolean })[];
}

interface CopyLine {
  ticket: string;
  to: string;
  messageId: string;
  replyTo?: string;
  attempts: number;
  queuedAt: string;
  state: string;
  lastError?: string;
  deadAt?: string;
}

export async function gatherReport(store: Store, now = new Date()): Promise<StateReport> {
  const midnight = new Date(now);
  midnight.setUTCHours(0, 0, 0, 0);
  const [stats, outbox, checkpoints, leases] = await Promise.all([
    store.tickets.stats(midnight),
    store.tickets.summary(50),
    store.collector.checkpoints(),
    store.leases.list(),
  ]);
  return {
    store: store.description,
    lastTicket: stats.lastTicket,
    ticketsToday: stats.issuedSince,
    outbox: { held: outbox.held, ready: outbox.ready, sending: outbox.sending, dead: outbox.dead, queued: outbox.queued.map(copyLine), deadLetters: outbox.deadLetters.map(copyLine) },
    checkpoints: checkpoints.map(checkpointLine),
    leases: leases.map(({ token: _, ...l }) => ({ ...l, active: Date.parse(l.expiresAt) > now.getTime() && !holderGone(l.holder) })),
  };
}

function copyLine(c: OutboxCopy): CopyLine {
  return {
    ticket: c.ticket,
    to: c.mail.to,
    messageId: c.mail.messageId,
    ...(c.mail.replyTo ? { replyTo: c.mail.replyTo } : {}),
    attempts: c.attempts,
    queuedAt: c.queuedAt,
    state: c.state,
    ...(c.lastError ? { lastError: c.lastError } : {}),
    ...(c.deadAt ? { deadAt: c.deadAt } : {}),
  };
}

function checkpointLine(c: CheckpointRecord) {
  return { mailbox: c.key, uidValidity: c.uidValidity, lastUid: c.lastUid, pending: c.pending.length };
}

/** The report for a person: one fact per line, what needs attention said so. */
export function renderReport(r: StateReport): string {
  const o = r.outbox;
  const lines = [
    `Mailer state: ${r.store}`,
    `  last ticket:    ${r.lastTicket ?? "none issued yet"}`,
    `  tickets today:  ${r.ticketsToday} (since 00:00 UTC)`,
    `  outbox:         ${o.ready + o.held + o.sending} admin cop${o.ready + o.held + o.sending === 1 ? "y" : "ies"} queued (${o.ready} waiting for a retry, ${o.sending} being sent, ${o.held} held), ${o.dead} dead letter${o.dead === 1 ? "" : "s"}`,
  ];
  for (const q of o.queued) lines.push(`    queued  ticket ${q.ticket} → ${q.to} (${q.state}, ${q.attempts} attempt${q.attempts === 1 ? "" : "s"}${q.lastError ? `, last error: ${q.lastError}` : ""})`);
  for (const d of o.deadLetters) lines.push(`    DEAD    ticket ${d.ticket} → ${d.to} since ${d.deadAt}: ${d.lastError} — re-queue with: bun run state --requeue ${d.ticket}`);
  if (r.checkpoints.length === 0) lines.push("  collector:      no checkpoint yet");
  for (const c of r.checkpoints) lines.push(`  collector:      ${c.mailbox}: UIDVALIDITY ${c.uidValidity}, last UID ${c.lastUid}, ${c.pending} pending`);
  for (const l of r.leases) lines.push(`  lease:          ${l.name}: ${l.active ? `held by ${describeHolder(l.holder)}, until ${l.expiresAt}` : `free (last held by ${describeHolder(l.holder)})`}`);
  return lines.join("\n");
}
