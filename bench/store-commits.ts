// Group commit in the store, in one process: COUNT tickets issued through the SQLite store by
// CALLERS concurrent callers (each issue: number + ledger row + held copy, durable), against the
// limit it is built to beat — the same three inserts committed one transaction each with
// synchronous=FULL, on the same disk, in the same run. Prints one JSON result line.
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../lib/store";
import { currentHolder } from "../lib/store/holder";

const COUNT = Number(process.env.COUNT ?? 20_000);
const CALLERS = Number(process.env.CALLERS ?? 50);
const dir = mkdtempSync(join(tmpdir(), "mailer-store-bench-"));
const copy = (n: string) => ({ from: "a@x.test", to: "a@x.test", replyTo: "p@example.com", subject: `[Ticket #${n}] Mailer`, text: "a message of a few words" });

async function grouped(): Promise<number> {
  const store = await openStore({ stateDir: join(dir, "grouped"), logDir: join(dir, "logs") });
  const holder = currentHolder();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next++ < COUNT) await store.tickets.issue({ requester: "p@example.com", adminCopy: copy, holder, holdMs: 60_000 });
    }),
  );
  const ms = performance.now() - t0;
  await store.close();
  return (COUNT / ms) * 1000;
}

function oneCommitEach(): number {
  const db = new Database(join(dir, "single.db"));
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = FULL");
  db.run("CREATE TABLE seq (n INTEGER); INSERT INTO seq VALUES (10000); CREATE TABLE ledger (t INTEGER PRIMARY KEY, r TEXT, at TEXT); CREATE TABLE outbox (id TEXT PRIMARY KEY, mail TEXT)");
  const issue = db.transaction(() => {
    const n = db.query<{ n: number }, []>("UPDATE seq SET n = n + 1 RETURNING n").get()!.n;
    db.query("INSERT INTO ledger VALUES (?, ?, ?)").run(n, "p@example.com", new Date().toISOString());
    db.query("INSERT INTO outbox VALUES (?, ?)").run(String(n), JSON.stringify(copy(String(n))));
  });
  const count = Math.min(COUNT, 5000);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) issue.immediate();
  const ms = performance.now() - t0;
  db.close();
  return (count / ms) * 1000;
}

const single = oneCommitEach();
const group = await grouped();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ result: { count: COUNT, callers: CALLERS, groupedPerSec: group, singlePerSec: single } }));
process.exit(0);
