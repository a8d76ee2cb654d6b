// `bun bench/web-log.ts [--entries N] [--json]`: the dashboard on a big log. Writes a
// success_request.log of N entries (default 1,000,000; ~330 bytes each, 1 in 5 a reply), then,
// in a process of its own so nothing but the web server is in its memory, starts the web
// server on it and measures over HTTP: the first page, the index build (threads, chart), one
// thread, one search, and the RSS throughout. Targets (issue 16): first page ≤ 200 ms and
// RSS ≤ 150 MB.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../lib/shared/config";
import { startWebServer } from "../lib/web/server";

const argv = process.argv.slice(2);
const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

export interface WebLogFigures {
  entries: number;
  fileMb: number;
  firstPageMs: number;
  firstPageRows: number;
  indexMs: number;
  threadMs: number;
  threadEntries: number;
  searchMs: number;
  rssAfterFirstPageMb: number;
  rssPeakMb: number;
}

if (arg("--measure")) {
  console.log(JSON.stringify(await measure(arg("--measure")!, Number(arg("--entries")))));
} else {
  const entries = Number(arg("--entries") ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), "mailer-web-bench-"));
  try {
    writeLog(join(dir, "success_request.log"), entries);
    const proc = Bun.spawn([process.execPath, import.meta.path, "--measure", dir, "--entries", String(entries)], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(proc.stdout).text();
    if ((await proc.exited) !== 0) throw new Error(`measurement failed: ${out}`);
    const figures = JSON.parse(out) as WebLogFigures;
    console.log(argv.includes("--json") ? JSON.stringify(figures) : describe(figures));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** N entries in the collector's format and key order, written in batches. */
export function writeLog(path: string, entries: number): void {
  const fd = openSync(path, "w");
  const start = Date.UTC(2026, 0, 1);
  try {
    for (let i = 0; i < entries; ) {
      let batch = "";
      for (const end = Math.min(entries, i + 10_000); i < end; i++) {
        const reply = i % 5 === 4;
        const ticket = String(10_000 + (reply ? i - 4 : i));
        const time = new Date(start + i * 30_000).toISOString();
        batch += JSON.stringify({ time, ticket, ...(reply ? { reply: true } : {}), text: `Request ${i}: the printer on floor ${i % 7} says "paper jam" again.\nSecond line of the message.`, from: "admin@mailer.test", replyTo: `person${i % 5000}@example.com`, subject: `${reply ? "Re: " : ""}[Ticket #${ticket}] Mailer`, messageId: `<${i}.bench@mailer.test>`, uid: i + 1, uidValidity: 1, sha256: "0".repeat(64), size: 900 }) + "\n";
      }
      writeSync(fd, batch);
    }
  } finally {
    closeSync(fd);
  }
}

async function measure(dir: string, entries: number): Promise<WebLogFigures> {
  const env = { LOG_DIR: dir, WEB_HOST: "127.0.0.1" };
  const config = (loadConfig(env, "web") as { ok: true; config: Config }).config;
  config.webPort = 0; // a free port (the key itself must be 1–65535)
  let rssPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  const web = startWebServer(config, { pollMs: 60_000 });
  const first = await (await fetch(web.url)).text();
  const firstPageMs = performance.now() - t0;
  const rssAfterFirstPage = process.memoryUsage().rss;
  await web.success.whenReady();
  const indexMs = performance.now() - t0;
  const ticket = String(10_000 + Math.floor(entries / 2 / 5) * 5);
  let t = performance.now();
  const thread = await (await fetch(`${web.url}tickets/${ticket}`)).text();
  const threadMs = performance.now() - t;
  t = performance.now();
  await (await fetch(`${web.url}?q=person4999%40example.com`)).text();
  const searchMs = performance.now() - t;
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  await web.stop();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  const { size } = Bun.file(join(dir, "success_request.log"));
  return {
    entries: web.success.count,
    fileMb: mb(size),
    firstPageMs: Math.round(firstPageMs),
    firstPageRows: (first.match(/<tr>/g) ?? []).length - 1,
    indexMs: Math.round(indexMs),
    threadMs: Math.round(threadMs),
    threadEntries: (thread.match(/<li /g) ?? []).length,
    searchMs: Math.round(searchMs),
    rssAfterFirstPageMb: mb(rssAfterFirstPage),
    rssPeakMb: mb(rssPeak),
  };
}

function describe(f: WebLogFigures): string {
  return [
    `dashboard on a ${f.entries.toLocaleString("en")}-entry log (${f.fileMb} MB):`,
    `  first page      ${f.firstPageMs} ms (${f.firstPageRows} rows), RSS ${f.rssAfterFirstPageMb} MB`,
    `  index built     ${f.indexMs} ms after start (threads, ticket search, chart)`,
    `  one thread      ${f.threadMs} ms (${f.threadEntries} entries)`,
    `  one search      ${f.searchMs} ms (an address, first page of results)`,
    `  RSS peak        ${f.rssPeakMb} MB`,
  ].join("\n");
}
