// Summarised log lines, so a flood cannot fill the disk or bury real errors: a peer repeating
// the same refusal (one connection pipelining "{}\n" printed 311,964 lines in 8 s) gets its
// first few lines in full, then one line per interval with the count of the ones left out.

export interface LogSummaryOptions {
  /** lines of one key printed in full per interval before counting starts */
  full?: number;
  intervalMs?: number;
}

interface Tally {
  /** lines seen in the current interval */
  seen: number;
  /** lines left out in the current interval */
  left: number;
  /** how the summary line starts (the last line's prefix, e.g. "127.0.0.1 ERROR BAD_REQUEST") */
  label: string;
}

export class LogSummary {
  private readonly tallies = new Map<string, Tally>();
  private readonly full: number;
  private readonly intervalMs: number;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** @param print writes one line (it adds the time stamp, if any); a summary line also gets its fields */
  constructor(private readonly print: (line: string, summary?: { repeated: string; more: number }) => void, o: LogSummaryOptions = {}) {
    this.full = o.full ?? 5;
    this.intervalMs = o.intervalMs ?? 10_000;
  }

  /**
   * Prints `line` unless `key` (e.g. peer address + refusal code) has already had its full
   * lines in this interval; then it is counted for the summary. `label` names it there.
   * `show`, when given, prints the line instead of `print` (a structured logger's own call).
   */
  report(key: string, label: string, line: string, show?: () => void): void {
    let t = this.tallies.get(key);
    if (!t) this.tallies.set(key, (t = { seen: 0, left: 0, label }));
    this.timer ??= this.startTimer();
    t.seen++;
    if (t.seen <= this.full) return show ? show() : this.print(line);
    t.left++;
    t.label = label;
  }

  /**
   * Prints the count left out of each key in this interval. A key still flooding stays
   * summarised (one line per interval); a key quiet for a whole interval is forgotten.
   */
  flush(): void {
    const seconds = Math.round(this.intervalMs / 100) / 10;
    for (const [key, t] of this.tallies) {
      if (t.left === 0) {
        this.tallies.delete(key);
        continue;
      }
      this.print(`${t.label} ×${t.left} more (repeated lines are summarised every ${seconds} s)`, { repeated: t.label, more: t.left });
      t.left = 0;
      t.seen = this.full;
    }
    if (this.tallies.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** At the end: prints what is left out, stops the timer. */
  stop(): void {
    this.flush();
    this.tallies.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private startTimer(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => this.flush(), this.intervalMs);
    timer.unref?.();
    return timer;
  }
}
