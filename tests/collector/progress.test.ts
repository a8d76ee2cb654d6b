// The live progress line (lib/collector/progress.ts) with a clock the test sets: redrawn in
// place, rate and time left from what was done since the first update, gone when the check is.
import { expect, test } from "bun:test";
import { progressText, ProgressLine } from "../../lib/collector/progress";

test("redrawn in place with done/total, rate and time left; cleared at the end", () => {
  let now = 0;
  const written: string[] = [];
  const line = new ProgressLine((t) => written.push(t), () => now);
  line.update({ done: 100, total: 10_000, tickets: 60, others: 40 });
  now = 2000; // 2 s later, 1,000 more
  line.update({ done: 1100, total: 10_000, tickets: 660, others: 440 });
  expect(written).toEqual([
    "\r\x1b[2Kcollecting: 100 of 10,000 (1%) · 60 tickets, 40 others",
    "\r\x1b[2Kcollecting: 1,100 of 10,000 (11%) · 660 tickets, 440 others · 500 messages/s · about 18 seconds left",
  ]);
  now = 20_000;
  line.update({ done: 10_000, total: 10_000, tickets: 6000, others: 4000 });
  expect(written.at(-1)).toBe("\r\x1b[2K"); // done: the line is removed, the summary follows on a clean line
  line.clear(); // nothing shown: nothing written
  expect(written).toHaveLength(4);
});

test("a new check measures its rate afresh", () => {
  expect(progressText({ done: 0, total: 0, tickets: 0, others: 0 }, null)).toBe("collecting: 0 of 0 (100%) · 0 tickets, 0 others");
  let now = 0;
  const written: string[] = [];
  const line = new ProgressLine((t) => written.push(t), () => now);
  line.update({ done: 500, total: 1000, tickets: 0, others: 500 });
  now = 1000;
  line.update({ done: 100, total: 3000, tickets: 0, others: 100 }); // another check
  expect(written.at(-1)).toBe("\r\x1b[2Kcollecting: 100 of 3,000 (3%) · 0 tickets, 100 others");
});
