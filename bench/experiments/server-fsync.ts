// Experiment behind bench/FINDINGS.md "Server throughput": the same server, STATE_DIR on the
// normal temporary directory vs on tmpfs (/dev/shm, where fsync costs nothing), next to the
// nodemailer limit, in interleaved rounds. Not part of `bun run bench`; usage in EXPERIMENT.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POOL_MAX_MESSAGES } from "../../lib/server/smtp";
import { runCommand, type CommandLine, type CommandSpec } from "../../lib/shared/args";
import { BUN, benchEnv, runHelper, spawnChild } from "../proc";
import { summarize } from "../stats";

const EXPERIMENT: CommandSpec = {
  program: "bench/experiments/server-fsync.ts",
  usage: "Usage: bun bench/experiments/server-fsync.ts [CONNECTIONS=50] [TICKETS=10000] [ROUNDS=3]",
  options: {},
  positionals: true,
};
let connections = 50;
let tickets = 10_000;
const LOGIN = "admin@mailer.test";
const PASSWORD = "bench-password";

async function withSink<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const sink = spawnChild([BUN, "bench/sink.ts"], { env: benchEnv({ SINK_LOGIN: LOGIN, SINK_PASSWORD: PASSWORD }) });
  try {
    return await fn((await sink.waitFor("ready")).port);
  } finally {
    await sink.stop();
  }
}

async function server(base: string) {
  const dir = mkdtempSync(join(base, "mailer-fsync-"));
  try {
    return await withSink(async (sinkPort) => {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const srv = spawnChild([BUN, "--no-env-file", "server.ts"], {
        env: benchEnv({
          EMAIL_LOGIN: LOGIN, EMAIL_PASSWORD: PASSWORD, SMTP_HOST: "127.0.0.1", SMTP_PORT: String(sinkPort), SERVER_PORT: String(port),
          STATE_DIR: join(dir, "state"), LOG_DIR: join(dir, "logs"), RATE_LIMIT_PER_MINUTE: "0", RECIPIENT_LIMIT_PER_HOUR: "0", SMTP_POOL_SIZE: "5",
        }),
      });
      try {
        await srv.waitForText(/listening/i, 15_000);
        const r = await runHelper([BUN, "bench/load.ts", "closed", "--port", String(port), "--connections", String(connections), "--total", String(tickets), "--warmup", "200"]);
        return { perSecond: r.result.perSecond as number, latency: summarize(r.result.latencies) };
      } finally {
        await srv.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const limit = () =>
  withSink(async (port) => {
    const r = await runHelper([BUN, "bench/limit-smtp.ts"], {
      env: benchEnv({ SINK_PORT: String(port), COUNT: String(tickets * 2), INFLIGHT: String(connections * 2), POOL_SIZE: "5", MAX_MESSAGES: String(POOL_MAX_MESSAGES), LOGIN, PASSWORD, ADMIN: LOGIN }),
    });
    return r.result.perSecond as number;
  });

async function main(line: CommandLine): Promise<number> {
  const [c = 50, t = 10_000, rounds = 3] = line.positionals.map(Number);
  connections = c;
  tickets = t;
  console.log(`${tickets} tickets over ${connections} connections; tickets/s (p50 / p99 ms) and the limit in tickets/s (messages/s ÷ 2)`);
  console.log("round | STATE_DIR in " + tmpdir() + " | STATE_DIR on /dev/shm | limit");
  for (let i = 1; i <= rounds; i++) {
    const disk = await server(tmpdir());
    const shm = await server("/dev/shm");
    const lim = await limit();
    const f = (x: { perSecond: number; latency: { p50: number; p99: number } }) => `${x.perSecond.toFixed(0)} (${x.latency.p50.toFixed(1)} / ${x.latency.p99.toFixed(1)})`;
    console.log(`${i} | ${f(disk)} = ${((disk.perSecond * 2) / lim * 100).toFixed(0)}% | ${f(shm)} = ${((shm.perSecond * 2) / lim * 100).toFixed(0)}% | ${(lim / 2).toFixed(0)}`);
  }
  return 0;
}

process.exit(await runCommand(EXPERIMENT, Bun.argv.slice(2), main));
