// Experiment behind bench/FINDINGS.md "Collector": what the parse hand-off costs. Fetches every
// message in 200-UID units (as lib/collector/imap-mailbox.ts fetchSources does) and parses it
// with the collector's own parser (lib/shared/mail-text.ts parseMail):
//   MODE=inline  on the main thread
//   MODE=single  in a worker, one postMessage per message, next after the previous result (lib/collector/parse-pool.ts shape)
//   MODE=batch   in a worker, one postMessage per 200-message unit
//   MODE=none    fetch only
// As a child: prints {"result":…}. As the driver: bun bench/experiments/parse-handoff.ts [messages=10000] [rounds=3]
// compares the modes with the naive simpleParser loop and `bun collector.ts --once --all`.
import { mkdtempSync, rmSync } from "node:fs";
import { runCommand, type CommandSpec } from "../../lib/shared/args";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { parseMail } from "../../lib/shared/mail-text";
import { BUN, benchEnv, cpuSeconds, runHelper, sampleMemory, spawnChild } from "../proc";
import { median } from "../stats";

const LOGIN = "admin@mailer.test";
const PASSWORD = "bench-password";

async function child(mode: string, port: number) {
  const client = new ImapFlow({ host: "127.0.0.1", port, secure: false, doSTARTTLS: false, auth: { user: LOGIN, pass: PASSWORD }, logger: false });
  await client.connect();
  const lock = await client.getMailboxLock("INBOX");
  const uids = ((await client.search({ all: true }, { uid: true })) || []) as number[];
  const worker = mode === "single" || mode === "batch" ? new Worker(new URL("./parse-handoff-worker.ts", import.meta.url).href) : null;
  let seq = 0;
  const waiting = new Map<number, (n: number) => void>();
  if (worker) worker.onmessage = (e: MessageEvent<{ id: number; count: number }>) => { waiting.get(e.data.id)?.(e.data.count); waiting.delete(e.data.id); };
  const post = (items: Uint8Array[]) => new Promise<number>((resolve) => {
    const id = ++seq;
    waiting.set(id, resolve);
    worker!.postMessage({ id, items }, items.map((i) => i.buffer as ArrayBuffer));
  });
  let parsed = 0;
  let pending: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < uids.length; i += 200) {
    const unit: Uint8Array[] = [];
    const range = `${uids[i]}:${uids[Math.min(i + 199, uids.length - 1)]}`;
    for await (const m of client.fetch(range, { uid: true, source: true }, { uid: true })) unit.push(new Uint8Array(m.source as Buffer));
    await pending; // as the collector: at most the previous unit is still being parsed
    if (mode === "none") parsed += unit.length;
    else if (mode === "inline") for (const u of unit) { await parseMail(u); parsed++; }
    else if (mode === "batch") pending = post(unit).then((n) => { parsed += n; });
    else pending = (async () => { for (const u of unit) parsed += await post([u]); })();
  }
  await pending;
  lock.release();
  await client.logout();
  worker?.terminate();
  console.log(JSON.stringify({ result: { mode, parsed } }));
  process.exit(0);
}

async function driver(messages: number, rounds: number) {
  const host = spawnChild([BUN, "bench/imap-host.ts"], { env: benchEnv({ COUNT: String(messages), LOGIN, PASSWORD }) });
  const { port } = await host.waitFor("ready", 120_000);
  const wall: Record<string, number[]> = {};
  const rss: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const note = (k: string, w: number, r: number, c: number) => { (wall[k] ??= []).push(w); (rss[k] ??= []).push(r); (cpu[k] ??= []).push(c); };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const mode of ["none", "inline", "single", "batch"]) {
        const r = await runHelper([BUN, import.meta.path], { env: benchEnv({ MODE: mode, IMAP_PORT: String(port) }) });
        note(mode, r.wallMs, r.peakRss, r.cpuSec);
      }
      const naive = await runHelper([BUN, "bench/limit-imap.ts"], { env: benchEnv({ MODE: "parse", IMAP_PORT: String(port), LOGIN, PASSWORD }) });
      note("naive simpleParser", naive.wallMs, naive.peakRss, naive.cpuSec);
      const dir = mkdtempSync(join(tmpdir(), "mailer-handoff-"));
      const t0 = performance.now();
      const c = spawnChild([BUN, "--no-env-file", "collector.ts", "--once", "--all"], {
        env: benchEnv({ EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, IMAP_HOST: "127.0.0.1", IMAP_PORT: String(port), PERIOD_CHECK: "60", LOG_DIR: join(dir, "logs"), STATE_DIR: join(dir, "state") }),
      });
      const mem = sampleMemory(c.pid);
      await c.exited;
      note("collector", performance.now() - t0, Math.max(mem.stop(), c.proc.resourceUsage()?.maxRSS ?? 0), cpuSeconds(c.proc));
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await host.stop();
  }
  console.log(`${messages} messages, ${rounds} rounds, medians: wall ms / peak RSS MB / CPU s`);
  for (const k of Object.keys(wall)) {
    console.log(`${k.padEnd(20)} ${median(wall[k]!).toFixed(0).padStart(6)} ms  ${(median(rss[k]!) / 1048576).toFixed(0).padStart(4)} MB  ${median(cpu[k]!).toFixed(2)} s   (${wall[k]!.map((x) => x.toFixed(0)).join(", ")})`);
  }
}

if (process.env.MODE) await child(process.env.MODE, Number(process.env.IMAP_PORT));
else {
  const EXPERIMENT: CommandSpec = {
    program: "bench/experiments/parse-handoff.ts",
    usage: "Usage: bun bench/experiments/parse-handoff.ts [MESSAGES=10000] [ROUNDS=3]",
    options: {},
    positionals: true,
  };
  process.exit(await runCommand(EXPERIMENT, Bun.argv.slice(2), async (line) => {
    const [messages = 10_000, rounds = 3] = line.positionals.map(Number);
    await driver(messages, rounds);
    return 0;
  }));
}
