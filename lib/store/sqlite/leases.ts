// Leases on SQLite: one row per name. Taking one is a BEGIN IMMEDIATE transaction, so of any
// number of processes taking it at once exactly one gets it; the token grows with every
// change of hands (a released lease keeps its row, so the token never goes back).
import type { Database } from "bun:sqlite";
import type { Holder, Lease, LeaseResult, LeaseStore } from "../types";
import type { Writer } from "./writer";

interface LeaseRow {
  name: string;
  holder: string;
  token: number;
  expires_ms: number;
}

export class SqliteLeases implements LeaseStore {
  constructor(private readonly db: Database, private readonly writer: Writer) {}

  take(name: string, holder: Holder, ttlMs: number, gone: (h: Holder) => boolean, now = new Date()): Promise<LeaseResult> {
    return this.writer.run((): LeaseResult => {
      const row = this.db.query<LeaseRow, [string]>("SELECT * FROM leases WHERE name = ?").get(name);
      const t = now.getTime();
      if (row && row.expires_ms > t) {
        const current = JSON.parse(row.holder) as Holder;
        if (!gone(current)) return { ok: false, holder: current, expiresAt: new Date(row.expires_ms).toISOString() };
      }
      const token = (row?.token ?? 0) + 1;
      this.db
        .query("INSERT INTO leases (name, holder, token, expires_ms) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_ms = excluded.expires_ms")
        .run(name, JSON.stringify(holder), token, t + ttlMs);
      return { ok: true, lease: { name, holder, token, expiresAt: new Date(t + ttlMs).toISOString() } };
    }, { durable: false }); // an OS crash that loses it stops its holder too
  }

  renew(name: string, token: number, ttlMs: number, now = new Date()): Promise<boolean> {
    return this.writer.run(() => this.db.query("UPDATE leases SET expires_ms = ? WHERE name = ? AND token = ?").run(now.getTime() + ttlMs, name, token).changes === 1, { durable: false });
  }

  release(name: string, token: number): Promise<void> {
    return this.writer.run(() => void this.db.query("UPDATE leases SET expires_ms = 0 WHERE name = ? AND token = ?").run(name, token), { durable: false });
  }

  async list(): Promise<Lease[]> {
    return this.db
      .query<LeaseRow, []>("SELECT * FROM leases ORDER BY name")
      .all()
      .map((r) => ({ name: r.name, holder: JSON.parse(r.holder) as Holder, token: r.token, expiresAt: new Date(r.expires_ms).toISOString() }));
  }
}
