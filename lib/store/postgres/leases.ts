// Leases on PostgreSQL: a session-level advisory lock held on a connection of its own (reserved,
// never shared with queries of the pool, never through a pooler in transaction mode). The lock
// lives exactly as long as the session: a holder that dies — kill -9, or a host that vanishes
// (the server's TCP keepalives end its session within about 25 s) — loses it, and a standby's
// next take() gets it. The leases table keeps the holder (for messages) and the fencing token,
// which grows with every change of hands; every fenced write compares it in its transaction.
import type { ReservedSQL, SQL } from "bun";
import type { Holder, Lease, LeaseResult, LeaseStore } from "../types";
import { op, storeError } from "./connect";

interface LeaseRow {
  name: string;
  holder: Holder;
  token: string;
  expires_ms: string;
}

interface Held {
  conn: ReservedSQL;
  token: number;
  /** the backend holding the lock: another pid on the connection means another session */
  pid: number;
}

const LOCK_KEY = `hashtextextended($1, 0)`;

export class PgLeases implements LeaseStore {
  private readonly held = new Map<string, Held>();

  /** @param locks the client the lock connections are reserved from (not the query pool) */
  constructor(private readonly sql: SQL, private readonly locks: SQL, private readonly where: string) {}

  async take(name: string, holder: Holder, ttlMs: number, _gone: (h: Holder) => boolean, now = new Date()): Promise<LeaseResult> {
    const mine = this.held.get(name);
    if (mine && (await this.renew(name, mine.token, ttlMs, now))) return { ok: true, lease: { name, holder, token: mine.token, expiresAt: new Date(now.getTime() + ttlMs).toISOString() } };
    let conn: ReservedSQL;
    try {
      conn = await this.locks.reserve();
    } catch (err) {
      throw storeError(err, this.where, `take the lease ${name}`);
    }
    try {
      const [got] = (await conn.unsafe(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok, pg_backend_pid() AS pid`, [name])) as { ok: boolean; pid: number }[];
      if (!got!.ok) {
        conn.release();
        return await this.refusal(name, now);
      }
      const [row] = (await conn.unsafe(
        `INSERT INTO leases (name, holder, token, expires_ms) VALUES ($1, $2::text::jsonb, 1, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, expires_ms = excluded.expires_ms RETURNING token`,
        [name, JSON.stringify(holder), now.getTime() + ttlMs],
      )) as { token: string }[];
      const token = Number(row!.token);
      this.held.set(name, { conn, token, pid: got!.pid });
      return { ok: true, lease: { name, holder, token, expiresAt: new Date(now.getTime() + ttlMs).toISOString() } };
    } catch (err) {
      // never hand a connection that may hold the lock back to the pool: its session ends here
      await conn.close().catch(() => {});
      throw storeError(err, this.where, `take the lease ${name}`);
    }
  }

  private async refusal(name: string, now: Date): Promise<LeaseResult> {
    const [row] = (await this.sql.unsafe(`SELECT * FROM leases WHERE name = $1`, [name])) as LeaseRow[];
    // the lock is taken but its row not written yet: someone is taking it this very moment
    const holder: Holder = row?.holder ?? { pid: 0, host: "(taking it now)", since: now.toISOString() };
    return { ok: false, holder, expiresAt: new Date(row ? Number(row.expires_ms) : now.getTime()).toISOString() };
  }

  /** True while our session — and with it the lock — is the one we took it on. */
  async renew(name: string, token: number, ttlMs: number, now = new Date()): Promise<boolean> {
    const h = this.held.get(name);
    if (!h || h.token !== token) return false;
    try {
      const rows = (await h.conn.unsafe(`UPDATE leases SET expires_ms = $3 WHERE name = $1 AND token = $2 RETURNING pg_backend_pid() AS pid`, [name, token, now.getTime() + ttlMs])) as {
        pid: number;
      }[];
      if (rows.length === 1 && rows[0]!.pid === h.pid) return true;
    } catch {
      // the session is gone, and the lock with it
    }
    await this.drop(name, h);
    return false;
  }

  async release(name: string, token: number): Promise<void> {
    const h = this.held.get(name);
    if (!h || h.token !== token) return;
    try {
      await h.conn.unsafe(`UPDATE leases SET expires_ms = 0 WHERE name = $1 AND token = $2`, [name, token]);
    } catch {
      // the row says when it was last renewed; the lock goes with the session below
    }
    await this.drop(name, h);
  }

  /** Ends the lock's session: the lock is free once this resolves. */
  private async drop(name: string, h: Held): Promise<void> {
    this.held.delete(name);
    await h.conn.close().catch(() => {});
  }

  list(): Promise<Lease[]> {
    return op(this.where, "read the leases", async () => {
      const rows = (await this.sql.unsafe(`SELECT * FROM leases ORDER BY name`)) as LeaseRow[];
      return rows.map((r) => ({ name: r.name, holder: r.holder, token: Number(r.token), expiresAt: new Date(Number(r.expires_ms)).toISOString() }));
    });
  }

  /** Ends every lock session (their leases become free at once). */
  async closeAll(): Promise<void> {
    for (const [name, h] of [...this.held]) await this.release(name, h.token);
  }
}
