// One process of the store-path benchmark (bench/postgres-section.ts): TICKETS × the server's three
// writes (issue with the held copy, release claimed for its attempt, the "sent" record) on the
// PostgreSQL store at URL, CONCURRENCY at a time; prints {"result":{"tickets":N,"ms":…}}, the
// time from the first issue to the last record (start-up and connecting not counted).
import { openPostgresStore } from "../lib/store/postgres/store";

const store = await openPostgresStore({ url: process.env.URL!, application: "mailer-bench", max: Number(process.env.POOL ?? 10) });
const total = Number(process.env.TICKETS ?? 1000);
const holder = { pid: process.pid, host: "bench", since: new Date().toISOString() };
let next = 0;
const worker = async () => {
  while (next++ < total) {
    const { copy } = await store.tickets.issue({
      requester: "user@bench.example",
      adminCopy: (t) => ({ from: "admin@mailer.test", to: "admin@mailer.test", replyTo: "user@bench.example", subject: `[Ticket #${t}] Mailer`, text: "Benchmark ticket\nThe printer does not print." }),
      holder,
      holdMs: 60_000,
    });
    // what the server does once the person's mail is accepted and the admin's copy sent
    const claimed = await store.tickets.release(copy.id, { holder, claimMs: 60_000 });
    if (!claimed || !(await store.tickets.record({ id: claimed.id, claimToken: claimed.claimToken, outcome: "sent" }))) throw new Error(`ticket ${copy.ticket}: release or record refused`);
  }
};
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY ?? 20) }, worker));
const ms = performance.now() - t0;
await store.close();
console.log(JSON.stringify({ result: { tickets: total, ms } }));
