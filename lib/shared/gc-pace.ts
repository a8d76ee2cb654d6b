// A full garbage collection every so many bytes of a long stream. Bun collects lazily: while a
// 150 MB message streams through imapflow (64 KiB windows) and the parser, the chunks already
// dropped pile up and peak RSS grew past 190 MB; a full collection every 16 MiB (≈ 10 for such
// a message, a few ms each) kept it at ≈ 140 MB (tests/process/collector-memory.test.ts).
export const GC_EVERY_BYTES = 16 * 1024 * 1024;

export class GcPace {
  private seen = 0;
  private next: number;

  constructor(private readonly every = GC_EVERY_BYTES) {
    this.next = every;
  }

  /** `bytes` more went by; collects when another `every` has passed. */
  passed(bytes: number): void {
    this.seen += bytes;
    if (this.seen < this.next) return;
    this.next = this.seen + this.every;
    Bun.gc(true);
  }
}
