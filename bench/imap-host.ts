// IMAP host for the collector benchmark: the project's sandbox IMAP server (lib/sandbox/imap.ts)
// in a process of its own, INBOX preloaded with COUNT generated messages (bench/messages.ts,
// seed SEED). Prints {"ready":{port, uidValidity, count, bytes, kinds}}; stops on SIGTERM.
//   COUNT, SEED, LOGIN, PASSWORD, IDLE (default 1)
import { startSandboxImap } from "../lib/sandbox/imap";
import { generateMessages } from "./messages";

const env = process.env;
const count = Number(env.COUNT ?? 1000);
const login = env.LOGIN ?? "admin@mailer.test";
const imap = await startSandboxImap({ port: 0, users: { [login]: env.PASSWORD ?? "bench" }, idle: env.IDLE !== "0" });
let bytes = 0;
const kinds: Record<string, number> = {};
for (const m of generateMessages(count, Number(env.SEED ?? 1))) {
  // \Seen on none: the collector's --all takes every message either way
  await imap.append(m.raw);
  bytes += m.raw.length;
  kinds[m.kind] = (kinds[m.kind] ?? 0) + 1;
}
console.log(JSON.stringify({ ready: { port: imap.port, uidValidity: imap.uidValidity, count, bytes, kinds } }));
process.on("SIGTERM", async () => { await imap.close(); process.exit(0); });
