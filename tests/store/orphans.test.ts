// Held copies whose issue or cancel was cut off by a lost connection (lib/store/postgres/orphans.ts):
// cancelled once the database answers again, given up once their hold has run out.
import { expect, test, setDefaultTimeout } from "bun:test";
import { Orphans } from "../../lib/store/postgres/orphans";
import { until } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

test("a cancel that fails while the database is away is retried until it gets through", async () => {
  let down = 3;
  const cancelled: string[] = [];
  const o = new Orphans(async (id) => {
    if (down-- > 0) throw new Error("connection closed");
    cancelled.push(id);
  });
  o.add("a", Date.now() + 60_000);
  o.add("b", Date.now() + 60_000);
  await until(() => o.size === 0, 10_000, "both cancelled");
  expect(cancelled.sort()).toEqual(["a", "b"]);
  o.stop();
});

test("a copy whose hold has run out is given up (another server may be delivering it), and stop() ends the retries", async () => {
  let tries = 0;
  const o = new Orphans(async () => {
    tries++;
    throw new Error("connection refused");
  });
  o.add("late", Date.now() + 300);
  await until(() => o.size === 0, 10_000, "the copy given up");
  const after = tries;
  o.add("other", Date.now() + 60_000);
  o.stop();
  await Bun.sleep(600);
  expect(tries).toBe(after);
});
