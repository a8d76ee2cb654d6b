// The live progress line of a long collection on a terminal: one line, redrawn in place
// ("collecting: 1,200 of 10,000 (12%) · 850 messages/s · about 10 seconds left"). In a pipe or a
// log the collector prints a line per batch instead (pipeline.ts); this is for terminals only.
import { formatCount } from "../wire/display";
import { durationInWords } from "../shared/words";
import type { Progress } from "./collector";

/** The line's text; `perSecond` null until a rate can be measured. */
export function progressText(p: Progress, perSecond: number | null): string {
  const pct = p.total ? Math.floor((100 * p.done) / p.total) : 100;
  const parts = [`collecting: ${formatCount(p.done)} of ${formatCount(p.total)} (${pct}%)`, `${formatCount(p.tickets)} tickets, ${formatCount(p.others)} others`];
  if (perSecond !== null && perSecond > 0) {
    parts.push(`${formatCount(Math.round(perSecond))} messages/s`);
    if (p.done < p.total) parts.push(`about ${durationInWords((p.total - p.done) / perSecond)} left`);
  }
  return parts.join(" · ");
}

const CLEAR = "\r\x1b[2K";

export class ProgressLine {
  private shown = false;
  /** where the rate is measured from: the first update of this check */
  private origin: { at: number; done: number; total: number } | null = null;

  constructor(private readonly write: (text: string) => void, private readonly now: () => number = () => performance.now()) {}

  update(p: Progress): void {
    const at = this.now();
    // a new check (another total, or fewer done): measure afresh
    if (!this.origin || this.origin.total !== p.total || p.done < this.origin.done) this.origin = { at, done: p.done, total: p.total };
    const seconds = (at - this.origin.at) / 1000;
    const rate = seconds > 0 ? (p.done - this.origin.done) / seconds : null;
    this.write(CLEAR + progressText(p, rate));
    this.shown = true;
    if (p.done >= p.total) this.clear();
  }

  /** Removes the line (before another line is printed, and when the check is done). */
  clear(): void {
    if (!this.shown) return;
    this.write(CLEAR);
    this.shown = false;
  }
}
