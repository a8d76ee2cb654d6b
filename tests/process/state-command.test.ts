// `bun run state`: what a STATE_DIR holds, for a person and as JSON; a dead letter re-queued by number.
import { expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { openStore } from "../../lib/store";
import { currentHolder } from "../../lib/store/holder";
import { baseEnv, runEntry } from "../helpers/env";
import { useTempDirs } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const dir = useTempDirs("mailer-state-cmd-");

test("prints the last ticket, tickets today, queued copies and dead letters with reasons; --json; --requeue", async () => {
  const d = dir();
  const store = await openStore({ stateDir: d, logDir: join(d, "logs") });
  const me = currentHolder();
  const issue = () => store.tickets.issue({ requester: "p@example.com", adminCopy: (n) => ({ from: "a@x.test", to: "admin@x.test", subject: `[Ticket #${n}] Mailer`, text: n }), holder: me, holdMs: 60_000 });
  const queued = await issue();
  await store.tickets.release(queued.copy.id);
  const dead = await issue();
  const claim = await store.tickets.release(dead.copy.id, { holder: me, claimMs: 60_000 });
  await store.tickets.record({ id: dead.copy.id, claimToken: claim!.claimToken, outcome: "dead", error: "550 5.1.1 no such user" });
  await store.close();
  const env = baseEnv({ STATE_DIR: d, LOG_DIR: join(d, "logs") });

  const text = await runEntry("scripts/state.ts", [], env);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain("last ticket:    10002");
  expect(text.stdout).toContain("tickets today:  2");
  expect(text.stdout).toContain("1 admin copy queued (1 waiting for a retry, 0 being sent, 0 held), 1 dead letter");
  expect(text.stdout).toMatch(/DEAD {4}ticket 10002 → admin@x\.test since .*: 550 5\.1\.1 no such user — re-queue with: bun run state --requeue 10002/);
  expect(text.stdout).toContain("collector:      no checkpoint yet");

  const json = JSON.parse((await runEntry("scripts/state.ts", ["--json"], env)).stdout);
  expect(json).toMatchObject({ lastTicket: "10002", ticketsToday: 2, outbox: { ready: 1, dead: 1, deadLetters: [{ ticket: "10002", lastError: "550 5.1.1 no such user" }] } });

  const requeued = await runEntry("scripts/state.ts", ["--requeue", "10002"], env);
  expect(requeued.code).toBe(0);
  expect(requeued.stdout).toContain("Re-queued the dead letter of ticket 10002");
  expect(JSON.parse((await runEntry("scripts/state.ts", ["--json"], env)).stdout).outbox).toMatchObject({ ready: 2, dead: 0 });
  const none = await runEntry("scripts/state.ts", ["--requeue", "10002"], env);
  expect(none.code).toBe(1);
  expect(none.stderr).toContain("ticket 10002 has no dead letter");
  const bad = await runEntry("scripts/state.ts", ["--requeue", "12"], env);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--requeue needs a ticket number");
  const missing = await runEntry("scripts/state.ts", [], baseEnv({ STATE_DIR: join(d, "nowhere") }));
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain("does not exist — no server or collector has run with it yet");
}, 30_000);
