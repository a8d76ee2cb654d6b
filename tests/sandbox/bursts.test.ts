// A burst of sandbox mail is summed up (lib/sandbox/bursts.ts), with a clock and timer the test sets.
import { expect, test } from "bun:test";
import { BurstSummary } from "../../lib/sandbox/bursts";

function harness() {
  let now = 0;
  let pending: (() => void) | null = null;
  const said: string[] = [];
  const b = new BurstSummary((l) => said.push(l), { limit: 3, windowMs: 1000, now: () => now, setTimer: (fn) => (pending = fn), clearTimer: () => (pending = null) });
  return { b, said, at: (ms: number) => (now = ms), fire: () => pending?.() };
}

test("3,000 mails in a second: the first lines, then one summary line — not 3,000 lines", () => {
  const h = harness();
  for (let i = 1; i <= 3000; i++) h.b.line(`mail ${i}`);
  h.at(1000);
  h.fire();
  expect(h.said).toEqual(["mail 1", "mail 2", "mail 3", "… 2,997 more mails in 1.0 s (the last: mail 3000)"]);
});

test("mail now and then is shown line by line; a burst ending early is summed up at once on flush", () => {
  const h = harness();
  for (let i = 0; i < 5; i++) {
    h.at(i * 2000);
    h.b.line(`slow ${i}`);
  }
  expect(h.said).toEqual(["slow 0", "slow 1", "slow 2", "slow 3", "slow 4"]);
  h.at(20_000);
  for (let i = 0; i < 4; i++) h.b.line(`fast ${i}`);
  h.at(20_100);
  h.b.flush(); // the sandbox stops
  expect(h.said.slice(5)).toEqual(["fast 0", "fast 1", "fast 2", "… 1 more mail in 0.1 s (the last: fast 3)"]);
});
