// kill -9 of the real server.ts in the middle of a burst of tickets, on one STATE_DIR over
// three lifetimes: no ticket number is ever issued twice (neither in the OK replies nor in the
// mails actually sent), numbers keep increasing across restarts, and the admin copies queued
// by a lifetime that was killed are delivered by the next one — once each.
import { afterEach, expect, test, setDefaultTimeout } from "bun:test";
import { requestTicket } from "../../lib/client/connection";
import { startFaultSink } from "../helpers/fault-sink";
import { ADMIN, prng, seedFor, startServer, until, type Running } from "../helpers/hardening";
import { tempDir } from "../helpers/env";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** 8 clients sending tickets as fast as they are answered, until `stop()`. */
function burst(port: number, tag: string) {
  const ok: string[] = [];
  const other: string[] = [];
  let running = true;
  const clients = Array.from({ length: 8 }, async (_, c) => {
    for (let i = 0; running; i++) {
      const o = await requestTicket("127.0.0.1", port, `c${c}.${tag}.${i}@example.com`, `burst ${tag}`, 5000);
      if (o.kind === "reply" && o.reply.status === "OK") ok.push(o.reply.ticket);
      else other.push(o.kind === "reply" ? o.reply.status : "unreachable");
    }
  });
  return {
    ok,
    other,
    async stop() {
      running = false;
      await Promise.all(clients);
    },
  };
}

test("kill -9 during bursts, three lifetimes on one STATE_DIR: no number twice, increasing; the outbox survives", async () => {
  const rnd = prng(seedFor("faults-server-crash"));
  const smtp = await startFaultSink();
  cleanups.push(() => smtp.close());
  const state = tempDir("mailer-crash-");
  cleanups.push(state.cleanup);
  const start = () => startServer(cleanups, smtp.port, "pw", { STATE_DIR: state.path, OUTBOX_RETRY: "0.5", SMTP_POOL_SIZE: "3" });
  const lifetimes: { ok: string[]; killedAfterMs: number }[] = [];

  const killDuringBurst = async (srv: Running, tag: string) => {
    const b = burst(srv.port, tag);
    await until(() => b.ok.length >= 5, 15_000, `first tickets of lifetime ${tag}`);
    const delay = rnd.int(0, 600);
    await Bun.sleep(delay);
    srv.proc.kill("SIGKILL");
    await srv.proc.exited;
    await b.stop();
    lifetimes.push({ ok: b.ok, killedAfterMs: delay });
    return b.ok;
  };

  // lifetime 1: the admin's copies are refused for now (451), so they pile up in the outbox
  smtp.behave((r) => (r === ADMIN ? "refuse" : "accept"));
  const first = await killDuringBurst(await start(), "one");
  expect(smtp.messages.filter((m) => m.to[0] === ADMIN)).toEqual([]);

  // lifetime 2: SMTP accepts the copies again; the queue left by lifetime 1 is delivered
  smtp.behave(() => "accept");
  const second = await start();
  await until(() => /outbox: \d+ admin copies queued from before/.test(second.output()), 5000, "the outbox notice");
  const copiesOf = (t: string) => smtp.messages.filter((m) => m.to[0] === ADMIN && m.ticket === t);
  await until(() => first.every((t) => copiesOf(t).length >= 1), 15_000, "lifetime 1's admin copies");
  const secondOk = await killDuringBurst(second, "two");

  // lifetime 3: a last round, then a clean stop
  const third = await start();
  const b = burst(third.port, "three");
  await until(() => b.ok.length >= 10, 15_000, "lifetime 3's tickets");
  await b.stop();
  await until(() => [...first, ...secondOk, ...b.ok].every((t) => copiesOf(t).length >= 1), 15_000, "every admin copy");
  // Every user mail that went out gets its admin copy, even when a kill fell between the
  // person's 250 and anything else: the copy was queued (held) before the person's mail.
  const userMails = () => smtp.messages.filter((m) => m.to[0] !== ADMIN).map((m) => m.ticket!);
  await until(() => userMails().every((t) => copiesOf(t).length >= 1), 15_000, "an admin copy for every user mail");
  await Bun.sleep(1200); // more retry rounds: nothing more may come
  expect(await third.stop("SIGTERM")).toBe(0);

  const all = [...first, ...secondOk, ...b.ok];
  console.log(`lifetimes: ${lifetimes.map((l) => `${l.ok.length} OK, killed ${l.killedAfterMs} ms into the burst`).join("; ")}; then ${b.ok.length} OK and a clean stop`);
  // no number twice: in the replies, and in the mails that went out (a reply lost to the kill included)
  expect(new Set(all).size).toBe(all.length);
  const userMailTickets = smtp.messages.filter((m) => m.to[0] !== ADMIN).map((m) => m.ticket!);
  expect(new Set(userMailTickets).size).toBe(userMailTickets.length);
  for (const t of all) expect(userMailTickets).toContain(t);
  const orphans = userMailTickets.filter((t) => copiesOf(t).length === 0);
  expect(orphans).toEqual([]);
  // numbers increase across restarts
  expect(Math.min(...secondOk.map(Number))).toBeGreaterThan(Math.max(...first.map(Number)));
  expect(Math.min(...b.ok.map(Number))).toBeGreaterThan(Math.max(...secondOk.map(Number)));
  // lifetime 1's queued copies: delivered by lifetime 2, exactly once
  for (const t of first) expect({ t, copies: copiesOf(t).length }).toEqual({ t, copies: 1 });
  // later copies: at least once; a kill between the SMTP server's 250 and the "sent" record may
  // resend one, but always the same message (one Message-ID per ticket)
  for (const t of all) expect(new Set(copiesOf(t).map((m) => m.messageId)).size).toBe(1);
}, 90_000);
