// Processes started within milliseconds of each other on one STATE_DIR (the lock race of the old
// pid files): servers share the ticket sequence and never issue a number twice; of collectors
// taking one LOG_DIR exactly one wins and the others name it — with and without a stale lease
// left by a killed collector, dozens of trials each.
import { expect, test, setDefaultTimeout } from "bun:test";
import { hostname } from "node:os";
import { join } from "node:path";
import { openStore } from "../../lib/store";
import { collectorLeaseName } from "../../lib/store/keys";
import { REPO } from "../helpers/env";
import { useTempDirs } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const dir = useTempDirs("mailer-starts-");
const STARTER = join(REPO, "tests/fixtures/store-starter.ts");

function start(args: string[]) {
  return Bun.spawn(["bun", STARTER, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
}

test("servers starting at once on one STATE_DIR (new or existing) never issue a number twice — 30 trials of 3", async () => {
  for (let trial = 0; trial < 30; trial++) {
    const d = dir();
    if (trial % 2) {
      const s = await openStore({ stateDir: d, logDir: d }); // an existing store
      await s.close();
    }
    const procs = [0, 1, 2].map(() => start(["tickets", d]));
    for (const p of procs) p.stdin.end();
    const outs = await Promise.all(procs.map((p) => new Response(p.stdout).text()));
    const numbers = outs.flatMap((o) => o.split("\n").filter(Boolean)).map(Number);
    expect(numbers).toHaveLength(9);
    expect(new Set(numbers).size).toBe(9);
    expect(Math.min(...numbers)).toBe(10001);
    expect(Math.max(...numbers)).toBe(10009);
  }
}, 120_000);

test("collectors starting at once on one LOG_DIR: exactly one runs, the others name it — 30 trials of 3, half with a stale lease of a killed collector", async () => {
  for (let trial = 0; trial < 30; trial++) {
    const d = dir();
    const logDir = join(d, "logs");
    if (trial % 2) {
      // a lease left by a collector that was killed (its pid no longer runs), not yet expired
      const s = await openStore({ stateDir: d, logDir });
      const dead = { pid: 2 ** 22 + trial, host: hostname(), since: "2026-11-30T10:00:00.000Z" };
      expect((await s.leases.take(collectorLeaseName(logDir), dead, 600_000, () => false)).ok).toBe(true);
      await s.close();
    }
    const procs = [0, 1, 2].map(() => start(["lease", d, logDir]));
    // each prints its result at once; the winner then holds the lease until its stdin closes
    const results: string[] = [];
    await Promise.all(
      procs.map(async (p, i) => {
        const reader = p.stdout.getReader();
        let text = "";
        while (!text.includes("\n")) {
          const r = await reader.read();
          if (r.done) break;
          text += new TextDecoder().decode(r.value);
        }
        reader.releaseLock();
        results[i] = text.trim();
      }),
    );
    for (const p of procs) p.stdin.end();
    await Promise.all(procs.map((p) => p.exited));
    const won = results.filter((r) => r === "won");
    const refused = results.filter((r) => r.startsWith("refused: another Mailer collector is already writing"));
    expect({ trial, won: won.length, refused: refused.length }).toEqual({ trial, won: 1, refused: 2 });
    const winner = procs[results.indexOf("won")]!.pid;
    for (const r of refused) expect(r).toContain(`(pid ${winner} on host ${hostname()}, since `);
  }
}, 120_000);
