// The PostgreSQL store against a real PostgreSQL (scripts/pgstack.sh): the shared contract, then
// what only this engine promises — migrations by processes starting together, start-up errors a
// person understands, the end of the sequence, leases that die with their holder's session, and
// copies whose issue or cancel was cut off by a lost connection.
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { SQL } from "bun";
import { newClient, pgTarget } from "../../lib/store/postgres/connect";
import { PG_SCHEMA_VERSION } from "../../lib/store/postgres/schema";
import { openPostgresStore } from "../../lib/store/postgres/store";
import { LAST_TICKET, type Store } from "../../lib/store/types";
import { dropDatabase, freshDatabase, requirePgstack } from "../helpers/pgstack";
import { storeContract } from "./contract";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const pg = requirePgstack();
const made: string[] = [];
afterAll(async () => {
  for (const url of made.splice(0)) await dropDatabase(pg!, url).catch(() => {});
});

async function fresh(): Promise<() => Promise<Store>> {
  const url = await freshDatabase(pg!);
  made.push(url);
  return () => openPostgresStore({ url });
}

describe.skipIf(!pg)("PostgreSQL store", () => {
  storeContract("postgres", fresh);
});

describe.skipIf(!pg)("PostgreSQL store: what only this engine promises", () => {
  test("five processes' worth of stores opening a new database at once migrate it once and agree on its id", async () => {
    const url = await freshDatabase(pg!);
    made.push(url);
    const stores = await Promise.all(Array.from({ length: 5 }, () => openPostgresStore({ url })));
    expect(new Set(stores.map((s) => s.id)).size).toBe(1);
    const sql = new SQL({ url, database: new URL(url).pathname.slice(1), max: 1 });
    expect((await sql`SELECT count(*)::int AS n FROM schema_migrations`)[0].n).toBe(PG_SCHEMA_VERSION);
    await sql.close();
    for (const s of stores) await s.close();
  });

  test("start-up errors say what to fix: refused login (auth), no such database (config), no rights (state), nothing listening (unreachable)", async () => {
    const bad = new URL(pg!.url);
    bad.password = "wrong";
    const none = new URL(pg!.url);
    none.pathname = "/no_such_db";
    const down = new URL(pg!.url);
    down.port = "1";
    const cases: [string, string, RegExp][] = [
      [bad.toString(), "auth", /refused the login .*check the user and password in STATE_DATABASE_URL/],
      [none.toString(), "config", /no_such_db.*create it/],
      [pg!.noprivUrl, "state", /permission denied.*ALTER SCHEMA public OWNER TO/],
      [down.toString(), "unreachable", /cannot reach the PostgreSQL database .*is it running/],
    ];
    for (const [url, kind, message] of cases) {
      const err = await openPostgresStore({ url }).then(
        () => null,
        (e) => e,
      );
      expect({ kind: err?.kind, message: message.test(err?.message) }).toEqual({ kind, message: true });
      expect(err.message).not.toContain("wrong");
      expect(err.message).not.toContain("nopriv-secret");
    }
  });

  test("every session has TCP keepalives (a silently dead holder's lease ends within ~25 s) and the URL's database, whatever PG* says", async () => {
    const saved = process.env.PGDATABASE;
    process.env.PGDATABASE = "postgres";
    try {
      const sql = newClient(pgTarget(pg!.url));
      const [row] = await sql`SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_keepalives_interval') AS intv, current_setting('tcp_keepalives_count') AS n, current_setting('tcp_user_timeout') AS ut, current_database() AS db`;
      expect(row).toEqual({ idle: "10", intv: "5", n: "3", ut: "25000", db: "mailer" });
      await sql.close();
    } finally {
      if (saved === undefined) delete process.env.PGDATABASE;
      else process.env.PGDATABASE = saved;
    }
  });

  test("the end of the sequence: the last numbers are issued, then a clear 'exhausted' error; no number repeats", async () => {
    const open = await fresh();
    const s = await open();
    const sql = new SQL({ url: made.at(-1)!, database: new URL(made.at(-1)!).pathname.slice(1), max: 1 });
    await sql.unsafe(`ALTER SEQUENCE ticket_seq RESTART WITH ${LAST_TICKET - 2}`);
    await sql.close();
    const got = await Promise.allSettled(Array.from({ length: 5 }, () => s.tickets.issue({ requester: "a@b.test", adminCopy: (t) => ({ from: "a@b.test", to: "a@b.test", subject: t, text: "x" }), holder: { pid: 1, host: "h", since: "" }, holdMs: 1000 })));
    const ok = got.flatMap((g) => (g.status === "fulfilled" ? [g.value.ticket] : [])).sort();
    expect(ok).toEqual([LAST_TICKET - 2, LAST_TICKET - 1, LAST_TICKET].map(String));
    for (const g of got.filter((g) => g.status === "rejected")) expect((g as PromiseRejectedResult).reason).toMatchObject({ code: "exhausted", message: expect.stringContaining("used up") });
    await s.close();
  });

  test("a lease dies with its holder's session: kill -9 of the holding process frees it for the standby at once", async () => {
    const url = await freshDatabase(pg!);
    made.push(url);
    const holderScript = `
      const { openPostgresStore } = await import(${JSON.stringify(require.resolve("../../lib/store/postgres/store"))});
      const s = await openPostgresStore({ url: process.env.URL });
      const r = await s.leases.take("collector mailbox", { pid: process.pid, host: "other-host", since: new Date().toISOString() }, 30000, () => false);
      console.log(r.ok ? "HELD " + r.lease.token : "REFUSED");
      setInterval(() => {}, 1000);`;
    const child = Bun.spawn(["bun", "-e", holderScript], { env: { ...process.env, URL: url }, stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toStartWith("HELD 1");
    const standby = await openPostgresStore({ url });
    const me = { pid: process.pid, host: "this-host", since: new Date().toISOString() };
    const refused = await standby.leases.take("collector mailbox", me, 30_000, () => false);
    expect(refused.ok ? "taken" : refused.holder.host).toBe("other-host");
    child.kill("SIGKILL");
    await child.exited;
    let taken: Awaited<ReturnType<Store["leases"]["take"]>> = refused;
    for (let i = 0; i < 100 && !taken.ok; i++) {
      await Bun.sleep(50);
      taken = await standby.leases.take("collector mailbox", me, 30_000, () => false);
    }
    expect(taken.ok && taken.lease.token).toBe(2);
    await standby.close();
  });
});
