// A full garbage collection every so many bytes (or messages) going by. Bun collects lazily:
// - while a 150 MB message streams through imapflow (64 KiB windows) and the parser, the chunks
//   already dropped pile up and peak RSS grew past 190 MB; a full collection every 16 MiB (≈ 10
//   for such a message, a few ms each) kept it at ≈ 140 MB (tests/process/collector-memory.test.ts);
// - a backlog of small mail leaves ~4 KB of parser garbage per 1 KB message: over 10,000
//   messages the heap grew from 12 MB live to 45 MB before a collection came, peak RSS 150–163
//   MB; one every 1,000 messages keeps it at ≈ 135 MB for no time measurable on the shared
//   machine (each forced collection, ~9 ms, replaces one JSC would have run) — bench/FINDINGS.md,
//   "Collector peak RSS and speed against the naive loop".
// How: a stream's pace uses Bun.gc(true) (the large-body test peaked at 152–153 MB with it,
// 155–161 MB with JSC's fullGC alone, same loaded machine); a backlog's uses `fullGC` from
// bun:jsc, which measured as cheap as no forced collection at all (Bun.gc(true) cost more).
import { fullGC } from "bun:jsc";

/** the collection for a backlog of small mail (see above) */
export const collectHeap: () => void = fullGC;

export const GC_EVERY_BYTES = 16 * 1024 * 1024;
export const GC_EVERY_MESSAGES = 1000;

export class GcPace {
  private bytes = 0;
  private messages = 0;

  constructor(
    private readonly everyBytes = GC_EVERY_BYTES,
    private readonly everyMessages = Number.POSITIVE_INFINITY,
    private readonly collect: () => void = () => Bun.gc(true),
  ) {}

  /** `bytes` more went by (in `messages` more messages); collects when either limit is reached. */
  passed(bytes: number, messages = 0): void {
    this.bytes += bytes;
    this.messages += messages;
    if (this.bytes < this.everyBytes && this.messages < this.everyMessages) return;
    this.bytes = 0;
    this.messages = 0;
    this.collect();
  }
}
