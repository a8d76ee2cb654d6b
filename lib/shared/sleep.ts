// A wait that a stop signal cuts short: the collector's backoff and POP3's PERIOD_CHECK wait.

/** Resolves "timeout" after `ms`, or "aborted" as soon as `signal` is (at once if it already is). */
export function sleepUnless(ms: number, signal: AbortSignal): Promise<"timeout" | "aborted"> {
  if (signal.aborted) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    const done = (how: "timeout" | "aborted") => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(how);
    };
    const onAbort = () => done("aborted");
    const timer = setTimeout(() => done("timeout"), ms);
    signal.addEventListener("abort", onAbort);
  });
}
