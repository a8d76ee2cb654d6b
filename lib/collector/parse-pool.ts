// Parses messages in a worker thread (parse-worker.ts), one job at a time, in order.
// Why a worker: a pathological message that keeps the parser busy is cut off by terminating
// the worker after a deadline — a timer in the same thread could never interrupt it. The
// collector sends it only what can be slow (large mail, HTML to convert); small mail is parsed
// on the main thread (parser-policy.ts says why). The worker starts on first use. Failures and
// timeouts come back as outcomes, never as exceptions: each becomes one error entry.
import { MailerError } from "../shared/errors";
import type { MailText } from "../shared/mail-text";

/** `unavailable`: the worker itself cannot run (not a problem of any one message), so the
 *  collector must stop rather than log every message as unparsable. */
export type ParseOutcome = { ok: true; mail: MailText } | { ok: false; error: string; unavailable?: true };

/** Time allowed for one message: generous, growing with size (a 30 MB message gets 70 s). */
export function parseDeadlineMs(size: number, baseMs = 10_000): number {
  return baseMs + Math.ceil(size / (1024 * 1024)) * 2000;
}

const MAX_CHUNKS_AHEAD = 4;

interface Job {
  id: number;
  size: number;
  start(worker: Worker): void;
  resolve(outcome: ParseOutcome): void;
  onAck?(): void;
}

export class ParsePool {
  private worker: Worker | null = null;
  private queue: Job[] = [];
  private current: Job | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private closed = false;
  private workerReady = false;
  private unavailable: MailerError | null = null;

  constructor(private readonly options: { deadlineMs?: (size: number) => number; workerUrl?: string } = {}) {}

  /** Parses a whole message already in memory. */
  parse(source: Buffer): Promise<ParseOutcome> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      // copy: the worker takes ownership of the bytes it is sent
      const data = new Uint8Array(source);
      this.enqueue({ id, size: source.length, resolve, start: (w) => w.postMessage({ id, kind: "whole", data }, [data.buffer]) });
    });
  }

  /** Parses a message arriving as a stream; reads it only as fast as the parser takes it. */
  parseStream(chunks: AsyncIterable<Uint8Array>, size: number): Promise<ParseOutcome> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      let inFlight = 0;
      let wake: (() => void) | null = null;
      let done = false;
      const job: Job = {
        id,
        size,
        resolve: (outcome) => {
          done = true;
          wake?.();
          resolve(outcome);
        },
        onAck: () => {
          inFlight--;
          wake?.();
          wake = null;
        },
        start: (worker) => {
          worker.postMessage({ id, kind: "start" });
          (async () => {
            for await (const chunk of chunks) {
              if (done) break;
              while (inFlight >= MAX_CHUNKS_AHEAD && !done) await new Promise<void>((r) => (wake = r));
              if (done) break;
              const data = new Uint8Array(chunk);
              inFlight++;
              worker.postMessage({ id, kind: "chunk", data }, [data.buffer]);
            }
            if (!done) worker.postMessage({ id, kind: "end" });
          })().catch((err) => {
            // the source failed (connection lost): end the worker's parse too, or it would wait
            // for chunks forever and keep what it holds
            if (!done) worker.postMessage({ id, kind: "end" });
            this.finish(job, { ok: false, error: `reading the message failed: ${(err as Error).message}` });
          });
        },
      };
      this.enqueue(job);
    });
  }

  /** Stops the worker; queued jobs end as failures. */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve({ ok: false, error: "collector stopping" });
    if (this.current) this.finish(this.current, { ok: false, error: "collector stopping" });
    this.worker?.terminate();
    this.worker = null;
  }

  private enqueue(job: Job): void {
    if (this.closed) return job.resolve({ ok: false, error: "collector stopping" });
    if (this.unavailable) return job.resolve({ ok: false, error: this.unavailable.message, unavailable: true });
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    let worker: Worker;
    try {
      worker = this.ensureWorker();
    } catch {
      for (const j of [job, ...this.queue.splice(0)]) j.resolve({ ok: false, error: this.unavailable!.message, unavailable: true });
      return;
    }
    this.current = job;
    this.arm(job);
    job.start(worker);
  }

  /** (Re)starts the job's deadline. A streamed job re-arms it whenever the parser takes a
   *  chunk: a slow download is not a stuck parser; a parser that stops taking chunks is. */
  private arm(job: Job): void {
    if (this.timer) clearTimeout(this.timer);
    const deadline = (this.options.deadlineMs ?? parseDeadlineMs)(job.size);
    this.timer = setTimeout(() => {
      // the worker may be stuck in a loop: only terminating it gets the thread back
      this.worker?.terminate();
      this.worker = null;
      this.finish(job, { ok: false, error: `parsing took longer than ${deadline >= 1000 ? `${Math.round(deadline / 1000)} s` : `${deadline} ms`} and was stopped` });
    }, deadline);
  }

  private finish(job: Job, outcome: ParseOutcome): void {
    if (this.current !== job) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.current = null;
    job.resolve(outcome);
    this.pump();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    let worker: Worker;
    try {
      worker = new Worker(this.options.workerUrl ?? new URL("./parse-worker.ts", import.meta.url).href);
    } catch (err) {
      this.unavailable = new MailerError("parser", `the mail parser (worker thread) cannot start: ${(err as Error).message}`);
      throw this.unavailable;
    }
    this.workerReady = false;
    worker.onmessage = (event: MessageEvent<{ id: number; ready?: true; ack?: true; ok?: boolean; mail?: MailText; error?: string }>) => {
      const msg = event.data;
      if (msg.ready) return void (this.workerReady = true);
      const job = this.current;
      if (!job || job.id !== msg.id) return;
      if (msg.ack) {
        this.arm(job);
        return job.onAck?.();
      }
      this.finish(job, msg.ok ? { ok: true, mail: msg.mail! } : { ok: false, error: `the message could not be parsed: ${msg.error}` });
    };
    worker.onerror = (event) => {
      this.worker?.terminate();
      this.worker = null;
      if (!this.workerReady) {
        // failed while loading: every message would fail the same way
        this.unavailable = new MailerError("parser", `the mail parser (worker thread) cannot start: ${event.message}`);
        for (const job of this.queue.splice(0)) job.resolve({ ok: false, error: this.unavailable.message, unavailable: true });
        if (this.current) this.finish(this.current, { ok: false, error: this.unavailable.message, unavailable: true });
        return;
      }
      if (this.current) this.finish(this.current, { ok: false, error: `the parser crashed: ${event.message}` });
    };
    // a worker must not keep the process alive on its own
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
