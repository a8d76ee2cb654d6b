// Worker for parse-handoff.ts: parses each source it is sent with lib/mail-text.ts parseMail.
import { parseMail } from "../../lib/shared/mail-text";

declare const self: Worker;
self.onmessage = async (event: MessageEvent<{ id: number; items: Uint8Array[] }>) => {
  const out = [];
  for (const item of event.data.items) out.push(await parseMail(item));
  self.postMessage({ id: event.data.id, count: out.length });
};
