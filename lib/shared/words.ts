// Waits and durations as a person reads them: "in 59 minutes", not "3569 seconds". The wire keeps
// seconds (retryAfter); people see these words.

/** Each unit is used from twice its size on, so a wait reads "90 seconds", "59 minutes", "25 hours". */
const UNITS: [seconds: number, one: string, many: string][] = [
  [86_400, "day", "days"],
  [3_600, "hour", "hours"],
  [60, "minute", "minutes"],
];

/** 45 → "45 seconds"; 3569 → "59 minutes"; 90000 → "25 hours"; 0 or less → "a moment". */
export function durationInWords(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "a moment";
  for (const [size, one, many] of UNITS) {
    if (seconds >= 2 * size) return counted(Math.round(seconds / size), one, many);
  }
  return counted(Math.max(1, Math.round(seconds)), "second");
}

/** 1 → "1 message", 3 → "3 messages": the one way lib/ counts things in a sentence. */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "try again in 59 minutes" */
export function tryAgainIn(seconds: number): string {
  return seconds > 0 ? `try again in ${durationInWords(seconds)}` : "try again now";
}
