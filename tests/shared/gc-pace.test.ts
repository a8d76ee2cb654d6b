import { expect, test } from "bun:test";
import { GcPace } from "../../lib/shared/gc-pace";

test("a collection every `everyBytes` bytes of a stream", () => {
  let runs = 0;
  const pace = new GcPace(100, Number.POSITIVE_INFINITY, () => runs++);
  for (let i = 0; i < 10; i++) pace.passed(30);
  expect(runs).toBe(2); // after 120 and after 240 bytes
});

test("a backlog of small mail: a collection every `everyMessages` messages, whatever their bytes", () => {
  let runs = 0;
  const pace = new GcPace(1 << 30, 1000, () => runs++);
  for (let i = 0; i < 100; i++) pace.passed(100 * 1024, 100); // batches of 100 messages of 1 KiB
  expect(runs).toBe(10);
});
