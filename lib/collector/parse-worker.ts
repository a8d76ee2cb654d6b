// Runs lib/shared/mail-text.ts parseMail in a worker thread (see parse-pool.ts): parsing then
// overlaps fetching, and a message that makes the parser spin can be cut off by terminating
// the worker. One job at a time; a streamed job arrives as chunks, each acknowledged so that
// the sender never runs more than a few chunks ahead (memory stays bounded).
import { GcPace } from "../shared/gc-pace";
import { parseMail } from "../shared/mail-text";

declare const self: Worker;

type Inbound =
  | { id: number; kind: "whole"; data: Uint8Array }
  | { id: number; kind: "start" }
  | { id: number; kind: "chunk"; data: Uint8Array }
  | { id: number; kind: "end" };

let queue: { push(chunk: Uint8Array | null): void } | null = null;

function chunkQueue(id: number) {
  const chunks: (Uint8Array | null)[] = [];
  const pace = new GcPace();
  let wake: (() => void) | null = null;
  const iterable: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (chunks.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const chunk = chunks.shift()!;
        if (chunk === null) return;
        // taken by the parser: the sender may send another
        self.postMessage({ id, ack: true });
        pace.passed(chunk.length);
        yield chunk;
      }
    },
  };
  return {
    iterable,
    push(chunk: Uint8Array | null) {
      chunks.push(chunk);
      wake?.();
      wake = null;
    },
  };
}

function run(id: number, input: Uint8Array | AsyncIterable<Uint8Array>) {
  parseMail(input).then(
    (mail) => self.postMessage({ id, ok: true, mail }),
    (err) => self.postMessage({ id, ok: false, error: (err as Error)?.message ?? String(err) }),
  );
}

self.onmessage = (event: MessageEvent<Inbound>) => {
  const msg = event.data;
  switch (msg.kind) {
    case "whole":
      run(msg.id, msg.data);
      break;
    case "start": {
      const q = chunkQueue(msg.id);
      queue = q;
      run(msg.id, q.iterable);
      break;
    }
    case "chunk":
      queue?.push(msg.data);
      break;
    case "end":
      queue?.push(null);
      queue = null;
      break;
  }
};

// loaded (with mailparser): the pool tells a worker that cannot start from one that failed on a message
self.postMessage({ ready: true });
