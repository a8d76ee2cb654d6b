// Group commit for PostgreSQL: calls of one kind (issue, release, a "sent" record) that arrive
// together — in one turn of the event loop, or while earlier statements of their kind are still
// on their way — go to the database as ONE statement over arrays (one round trip, one commit,
// one WAL flush for all of them), as the SQLite store groups its commits (sqlite/writer.ts).
// Under light load a batch holds one call: it costs what a statement of its own did.
//
// Each call's promise settles with its own result once the statement that carried it has
// committed: a batch is one statement, so it commits whole or not at all. `run` settles every
// input (it may fall back to one statement per input when the batch as a whole fails).

import { isConnectionError } from "./connect";

export interface BatchOptions {
  /** statements of this kind on their way at once (each holds one pooled connection) */
  inFlight: number;
  /** calls per statement at most */
  maxBatch: number;
}

interface Pending<I, O> {
  input: I;
  resolve: (v: O) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly run: (inputs: I[]) => Promise<PromiseSettledResult<O>[]>,
    private readonly o: BatchOptions,
  ) {}

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.o.inFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // the rest of this turn's calls join the batch
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.running < this.o.inFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.o.maxBatch);
      this.running++;
      this.send(batch).finally(() => {
        this.running--;
        this.schedule();
      });
    }
  }

  private async send(batch: Pending<I, O>[]): Promise<void> {
    let results: PromiseSettledResult<O>[];
    try {
      results = await this.run(batch.map((p) => p.input));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const r = results[i];
      if (r?.status === "fulfilled") p.resolve(r.value);
      else p.reject(r ? r.reason : new Error("batch: no result for this call"));
    });
  }
}

/** Every input fulfilled with its value from `byIndex` (the statement's rows, matched). */
export function fulfilled<O>(n: number, byIndex: (i: number) => O): PromiseSettledResult<O>[] {
  return Array.from({ length: n }, (_, i) => ({ status: "fulfilled" as const, value: byIndex(i) }));
}

/** Every input rejected with the same reason. */
export function rejected<O>(n: number, reason: unknown): PromiseSettledResult<O>[] {
  return Array.from({ length: n }, () => ({ status: "rejected" as const, reason }));
}

/** A batch as one statement (`all`), or one statement per call (`one`) when that fails for another
 *  reason than a lost connection, so one call's problem stays its own; a lost connection fails
 *  every call with `lost(err)` (a retry would meet the same). A batch of one is `one` alone. */
export async function allOrEach<I, O>(
  xs: I[],
  o: { all: (xs: I[]) => Promise<PromiseSettledResult<O>[]>; one: (x: I) => Promise<O>; lost: (err: unknown) => unknown },
): Promise<PromiseSettledResult<O>[]> {
  if (xs.length === 1) return await Promise.allSettled([o.one(xs[0]!)]);
  try {
    return await o.all(xs);
  } catch (err) {
    if (!isConnectionError(err)) return await Promise.allSettled(xs.map(o.one));
    return rejected(xs.length, o.lost(err));
  }
}
