// Held copies that must not go out but whose fate the database never confirmed: an issue whose
// answer was lost with the connection (it may have committed — then nobody will release the
// copy), or a cancel that did not get through. Each is cancelled as soon as the database answers
// again, retried every RETRY_MS until it is done or its hold has run out (then another server
// may already be delivering it: the documented "at worst the admin hears of a failed request").
const RETRY_MS = 250;

export class Orphans {
  private readonly pending = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly cancel: (id: string) => Promise<void>) {}

  /** @param untilMs give up after this time (the copy's hold) */
  add(id: string, untilMs: number): void {
    if (this.stopped) return;
    this.pending.set(id, untilMs);
    this.schedule();
  }

  get size(): number {
    return this.pending.size;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => void this.round(), RETRY_MS);
    this.timer.unref?.();
  }

  private async round(): Promise<void> {
    this.timer = null;
    for (const [id, until] of [...this.pending]) {
      if (Date.now() >= until) {
        this.pending.delete(id);
        continue;
      }
      try {
        await this.cancel(id);
        this.pending.delete(id);
      } catch {
        break; // still unreachable: the others wait for the next round
      }
    }
    if (this.pending.size > 0) this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
