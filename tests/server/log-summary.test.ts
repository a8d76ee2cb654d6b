import { expect, test } from "bun:test";
import { LogSummary } from "../../lib/server/log-summary";

test("identical lines of one key: the first few in full, then one line per interval with the count; other keys untouched", () => {
  const out: string[] = [];
  const s = new LogSummary((l) => out.push(l), { full: 3, intervalMs: 60_000 });
  for (let i = 0; i < 1000; i++) s.report("1.2.3.4 BAD_REQUEST", "1.2.3.4 ERROR BAD_REQUEST", `1.2.3.4:5 ERROR BAD_REQUEST #${i}`);
  s.report("5.6.7.8 BAD_REQUEST", "5.6.7.8 ERROR BAD_REQUEST", "5.6.7.8:9 ERROR BAD_REQUEST");
  expect(out).toEqual(["1.2.3.4:5 ERROR BAD_REQUEST #0", "1.2.3.4:5 ERROR BAD_REQUEST #1", "1.2.3.4:5 ERROR BAD_REQUEST #2", "5.6.7.8:9 ERROR BAD_REQUEST"]);
  s.flush();
  expect(out.slice(4)).toEqual(["1.2.3.4 ERROR BAD_REQUEST ×997 more (repeated lines are summarised every 60 s)"]);
  // still flooding: no new full lines, one summary per interval
  for (let i = 0; i < 500; i++) s.report("1.2.3.4 BAD_REQUEST", "1.2.3.4 ERROR BAD_REQUEST", "again");
  s.flush();
  expect(out.slice(5)).toEqual(["1.2.3.4 ERROR BAD_REQUEST ×500 more (repeated lines are summarised every 60 s)"]);
  // quiet for an interval: forgotten, the next line is printed in full again
  s.flush();
  s.report("1.2.3.4 BAD_REQUEST", "1.2.3.4 ERROR BAD_REQUEST", "after a pause");
  expect(out.at(-1)).toBe("after a pause");
  s.stop();
});
