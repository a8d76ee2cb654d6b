// The sandbox's console during a burst of mail: the first few lines of each window are shown,
// the rest is summed up in one line per window ("… 2,995 more mails in 1.0 s"), so 3,000
// mails do not print 3,000 lines. Clock and timer are passed in, so tests set them.
import { formatCount } from "../wire/display";

export interface BurstOptions {
  /** lines shown as they come in each window (default 5) */
  limit?: number;
  windowMs?: number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

export class BurstSummary {
  private readonly limit: number;
  private readonly windowMs: number;
  private windowStart = -Infinity;
  private shown = 0;
  private held = 0;
  private lastHeld = "";
  private timer: unknown = null;

  constructor(private readonly say: (line: string) => void, private readonly o: BurstOptions = {}) {
    this.limit = o.limit ?? 5;
    this.windowMs = o.windowMs ?? 1000;
  }

  line(text: string): void {
    const now = this.now();
    if (this.held === 0 && now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.shown = 0;
    }
    if (this.shown < this.limit) {
      this.shown++;
      this.say(text);
      return;
    }
    this.held++;
    this.lastHeld = text;
    this.timer ??= (this.o.setTimer ?? setTimeout)(() => this.flush(), Math.max(0, this.windowStart + this.windowMs - now));
  }

  /** The summary of what was held back; a new window starts. */
  flush(): void {
    if (this.timer !== null) (this.o.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>)))(this.timer);
    this.timer = null;
    if (this.held === 0) return;
    const seconds = ((this.now() - this.windowStart) / 1000).toFixed(1);
    this.say(`… ${formatCount(this.held)} more mail${this.held === 1 ? "" : "s"} in ${seconds} s (the last: ${this.lastHeld})`);
    this.held = 0;
    this.windowStart = this.now();
    this.shown = 0;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
