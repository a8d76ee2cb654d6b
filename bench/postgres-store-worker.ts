// One process of the store-path benchmark (bench/postgres.ts): TICKETS issues + releases on the
// PostgreSQL store at URL, CONCURRENCY at a time; prints {"result":{"tickets":N,"ms":…}}, the
// time from the first issue to the last release (start-up and connecting not counted).
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
    await store.tickets.release(copy.id);
  }
};
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY ?? 20) }, worker));
const ms = performance.now() - t0;
await store.close();
console.log(JSON.stringify({ result: { tickets: total, ms } }));
