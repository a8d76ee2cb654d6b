// PostgreSQL restarted in the middle of load on two servers: every request is answered OK or
// INTERNAL (never half-done: an INTERNAL request sent no mail at all, an OK one has its person's
// mail and its admin copy), and service resumes by itself once the database is back.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { openPostgresStore } from "../../lib/store/postgres/store";
import { ADMIN, startServer, type Running } from "../helpers/hardening";
import { dropDatabase, freshDatabase, requirePgstack, restartPostgres } from "../helpers/pgstack";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink";
import { runTicketLoad } from "../helpers/ticket-load";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const pg = requirePgstack();
const cleanups: (() => unknown)[] = [];
let url = "";
let sink: SmtpSink;

beforeAll(async () => {
  if (!pg) return;
  url = await freshDatabase(pg, "restart");
  sink = await startSmtpSink();
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (!pg) return;
  await sink?.close();
  await dropDatabase(pg, url);
});

describe.skipIf(!pg)("PostgreSQL restarted under load", () => {
  test("requests in flight fail with INTERNAL or succeed, none half-done; service resumes by itself", async () => {
    const env = { STATE_DATABASE_URL: url, SMTP_TIMEOUT: "1", OUTBOX_RETRY: "1", SMTP_POOL_SIZE: "4" };
    const two: Running[] = [await startServer(cleanups, sink.port, "pw", env), await startServer(cleanups, sink.port, "pw", env)];
    let restarted = false;
    let restart: Promise<void> | null = null;
    const load = (port: number, tag: string) =>
      runTicketLoad({
        port,
        connections: 10,
        total: 800,
        tag,
        onResult: (_r, done) => {
          if (!restarted && done >= 200) {
            restarted = true;
            // the load goes on while the database goes down and comes back
            restart = restartPostgres(pg!);
          }
        },
      });
    const [a, b] = await Promise.all([load(two[0]!.port, "restart-a"), load(two[1]!.port, "restart-b")]);
    const results = [...a, ...b];
    expect(restarted).toBe(true);
    await restart;
    const codes = new Set(results.map((r) => (r.status === "OK" ? "OK" : `${r.status} ${r.code ?? ""}`)));
    // nothing but OK and INTERNAL (a request never loses its reply: the servers stayed up)
    expect([...codes].filter((c) => c !== "OK" && c !== "ERROR INTERNAL")).toEqual([]);
    const ok = results.filter((r) => r.status === "OK");
    const failed = results.filter((r) => r.status !== "OK");
    expect(new Set(ok.map((r) => r.ticket)).size).toBe(ok.length);
    // service resumed by itself: once the database is back, each server answers again (a pooled
    // connection that died with it may fail one request first), then a batch all succeeds —
    // sent after the restart whatever the machine's speed
    for (const [i, srv] of two.entries()) {
      const deadline = Date.now() + 20_000;
      while ((await runTicketLoad({ port: srv.port, connections: 1, total: 1, tag: `probe-${i}` }))[0]!.status !== "OK") {
        if (Date.now() > deadline) throw new Error(`server ${i} did not resume within 20 s of the restart`);
        await Bun.sleep(200);
      }
      const after = await runTicketLoad({ port: srv.port, connections: 5, total: 50, tag: `after-${i}` });
      expect(after.filter((r) => r.status !== "OK")).toEqual([]);
    }
    // settled: held copies released or cancelled, copies whose hold ran out delivered
    const store = await openPostgresStore({ url });
    const deadline = Date.now() + 40_000;
    for (;;) {
      const s = await store.tickets.summary(0);
      if (s.held + s.ready + s.sending === 0) break;
      if (Date.now() > deadline) throw new Error(`outbox did not settle: ${JSON.stringify(s)}`);
      await Bun.sleep(200);
    }
    await store.close();
    await Bun.sleep(500);
    const mailByText = new Map<string, { person: number; admin: number }>();
    for (const m of sink.messages) {
      const text = (m.parsed.text ?? "").trim();
      const e = mailByText.get(text) ?? { person: 0, admin: 0 };
      if (m.to.includes(ADMIN)) e.admin++;
      else e.person++;
      mailByText.set(text, e);
    }
    for (const r of ok) expect({ text: r.text, ...mailByText.get(r.text) }).toMatchObject({ text: r.text, person: 1, admin: expect.any(Number) });
    for (const r of ok) expect(mailByText.get(r.text)!.admin).toBeGreaterThan(0);
    // an INTERNAL request sent nothing: neither the person's mail nor an admin copy
    for (const r of failed) expect({ text: r.text, mail: mailByText.get(r.text) ?? null }).toEqual({ text: r.text, mail: null });
    console.log(`pg restart under load: ${ok.length} OK, ${failed.length} INTERNAL of ${results.length}`);
    for (const s of two) await s.stop();
  }, 180_000);
});
