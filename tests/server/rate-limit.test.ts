import { expect, setSystemTime, test } from "bun:test";
import { RateLimiter } from "../../lib/server/rate-limit";

test("allows `limit` events per window per key, then says when to come back", () => {
  let t = 1_000_000;
  const r = new RateLimiter(3, 60_000, () => t);
  for (let i = 0; i < 3; i++) {
    expect(r.check("1.2.3.4")).toEqual({ ok: true });
    r.record("1.2.3.4");
    t += 1000;
  }
  expect(r.check("1.2.3.4")).toEqual({ ok: false, retryAfter: 57 });
  expect(r.check("5.6.7.8")).toEqual({ ok: true }); // other keys are independent
  t += 56_500;
  expect(r.check("1.2.3.4")).toEqual({ ok: false, retryAfter: 1 });
  t += 500; // the first event leaves the window
  expect(r.check("1.2.3.4")).toEqual({ ok: true });
});

test("limit 0 turns it off", () => {
  const r = new RateLimiter(0, 60_000);
  for (let i = 0; i < 1000; i++) r.record("k");
  expect(r.check("k")).toEqual({ ok: true });
  expect(r.size).toBe(0);
});

test("keys of the past are forgotten (memory stays bounded)", () => {
  let t = 0;
  const r = new RateLimiter(5, 1000, () => t);
  for (let i = 0; i < 500; i++) r.record(`client-${i}`);
  expect(r.size).toBe(500);
  t += 5000;
  r.record("late");
  expect(r.size).toBe(1);
});

test("windows are measured on a monotonic clock: stepping the wall clock back a day does not stretch retryAfter", () => {
  const r = new RateLimiter(10, 3_600_000); // the default clock, as the server uses it
  for (let i = 0; i < 10; i++) r.record("ivan@example.com");
  try {
    setSystemTime(new Date(Date.now() - 86_400_000));
    const d = r.check("ivan@example.com");
    // before: 90,000 s (the day plus the hour), and still 82,800 s two hours later
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.retryAfter).toBeLessThanOrEqual(3600);
    setSystemTime(new Date(Date.now() + 3 * 86_400_000)); // and forward: the window does not end early
    expect(r.check("ivan@example.com").ok).toBe(false);
  } finally {
    setSystemTime();
  }
});
