// A very large collector log and a collector run measured from outside: for the large-log test
// and the bench's start-up case.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./env";

/** A success log of `n` entries under one UIDVALIDITY, written in big chunks. */
export function writeLargeLog(logDir: string, n: number, uidValidity: number): void {
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const fd = openSync(join(logDir, "success_request.log"), "w", 0o600);
  let chunk = "";
  for (let uid = 1; uid <= n; uid++) {
    const sha = uid.toString(16).padStart(64, "0");
    chunk += `{"time":"2026-11-30T10:00:00.000Z","ticket":"${10000 + uid}","text":"message number ${uid}","from":"p@example.com","subject":"[Ticket #${10000 + uid}] Mailer","messageId":null,"uid":${uid},"uidValidity":${uidValidity},"sha256":"${sha}","size":120}\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = "";
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}

/** Runs `collector.ts --once`, sampling its peak RSS (VmHWM) until it exits. */
export async function onceWithPeak(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; peakMb: number }> {
  const proc = Bun.spawn(["bun", "collector.ts", "--once"], { cwd: REPO, env, stdout: "pipe", stderr: "pipe" });
  let peak = 0;
  const sampler = setInterval(async () => {
    const status = await Bun.file(`/proc/${proc.pid}/status`).text().catch(() => "");
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    if (kb > peak) peak = kb;
  }, 5);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearInterval(sampler);
  return { code, stdout, stderr, peakMb: peak / 1024 };
}

