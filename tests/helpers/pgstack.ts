// The throwaway PostgreSQL cluster (scripts/pgstack.sh) and haproxy as seen by tests: where the
// cluster listens, a fresh database per test file, a restart, and an haproxy in front of
// servers. In CI (CI set) they are required: tests that need them FAIL when missing; elsewhere
// they skip with one line saying how to start them.
import { SQL } from "bun";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseEnvFile } from "./mailstack";

export const PGSTACK_SCRIPT = resolve(import.meta.dir, "../../scripts/pgstack.sh");
export const DEFAULT_PGSTACK_ENV_FILE = "/tmp/pgstack/pg.env";
const START_HINT = "scripts/pgstack.sh install && scripts/pgstack.sh start /tmp/pgstack";

export interface PgstackEnv {
  envFile: string;
  dir: string;
  port: number;
  /** the database `mailer`, owned by the role `mailer` */
  url: string;
  /** a role that may log in but create nothing */
  noprivUrl: string;
  haproxy: string;
}

function envFilePath(): string {
  return process.env.PGSTACK_ENV_FILE || DEFAULT_PGSTACK_ENV_FILE;
}

/** The cluster described by `envFile` (default: PGSTACK_ENV_FILE, else /tmp/pgstack/pg.env), or null when that file does not exist. */
export function pgstackEnv(envFile = envFilePath()): PgstackEnv | null {
  if (!existsSync(envFile)) return null;
  const v = parseEnvFile(readFileSync(envFile, "utf8"));
  const need = (k: string) => {
    if (!v[k]) throw new Error(`${envFile}: ${k} is missing`);
    return v[k]!;
  };
  return { envFile, dir: need("PGSTACK_DIR"), port: Number(need("PGSTACK_PORT")), url: need("PGSTACK_URL"), noprivUrl: need("PGSTACK_NOPRIV_URL"), haproxy: v.HAPROXY || "/usr/sbin/haproxy" };
}

let noticePrinted = false;

/** The cluster when it runs (and haproxy is installed); otherwise throws in CI, or prints one line and returns null. */
export function requirePgstack(): PgstackEnv | null {
  const env = pgstackEnv();
  if (env && existsSync(env.haproxy)) return env;
  const why = env ? `haproxy is not installed at ${env.haproxy}` : `${envFilePath()} does not exist`;
  const ci = process.env.CI;
  if (ci && ci !== "false" && ci !== "0") throw new Error(`PostgreSQL and haproxy are required in CI but ${why}: start them with \`${START_HINT}\` (or point PGSTACK_ENV_FILE at DIR/pg.env)`);
  if (!noticePrinted) {
    noticePrinted = true;
    console.log(`skipping PostgreSQL tests (${why}): start it with \`${START_HINT}\``);
  }
  return null;
}

/** The superuser over the cluster's unix socket (trust): creates and drops test databases. */
function admin(env: PgstackEnv): SQL {
  return new SQL({ adapter: "postgres", path: env.dir, port: env.port, username: "postgres", password: "", database: "postgres", max: 1 });
}

/** A new, empty database owned by `mailer`; its URL. Dropped by `dropDatabase`. */
export async function freshDatabase(env: PgstackEnv, prefix = "t"): Promise<string> {
  const name = `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const sql = admin(env);
  try {
    await sql.unsafe(`CREATE DATABASE ${name} OWNER mailer`);
  } finally {
    await sql.close();
  }
  const u = new URL(env.url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropDatabase(env: PgstackEnv, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const sql = admin(env);
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await sql.close();
  }
}

/** Fast shutdown and start of the whole cluster (sessions cut), without blocking the caller's
 *  event loop (the load goes on meanwhile); throws with the script's output on failure. */
export async function restartPostgres(env: PgstackEnv): Promise<void> {
  const p = Bun.spawn(["bash", PGSTACK_SCRIPT, "restart", env.dir], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`pgstack.sh restart failed: ${out}${err}`);
}

export interface Haproxy {
  port: number;
  stop(): Promise<void>;
}

/** haproxy on 127.0.0.1:`port` in front of `backends`, with send-proxy-v2 and the health check
 *  docs/several-machines.md "Running on several machines" documents (`check`: a TCP connect, nothing sent). */
export async function startHaproxy(env: PgstackEnv, dir: string, port: number, backends: number[], o: { proxyV2?: boolean } = {}): Promise<Haproxy> {
  const cfg = join(dir, "haproxy.cfg");
  const proxy = o.proxyV2 === false ? "" : " send-proxy-v2";
  writeFileSync(
    cfg,
    [
      "global",
      "  maxconn 4000",
      "defaults",
      "  mode tcp",
      "  timeout connect 2s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  retries 2",
      "  option redispatch",
      "frontend mailer",
      `  bind 127.0.0.1:${port}`,
      "  default_backend servers",
      "backend servers",
      "  balance roundrobin",
      ...backends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}${proxy} check inter 500ms fall 2 rise 1`),
      "",
    ].join("\n"),
  );
  const check = Bun.spawnSync([env.haproxy, "-c", "-f", cfg], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`haproxy -c: ${check.stdout}${check.stderr}`);
  const proc = Bun.spawn([env.haproxy, "-db", "-f", cfg], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      s.end();
      break;
    } catch {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`haproxy did not start: ${await new Response(proc.stderr).text()}`);
      await Bun.sleep(50);
    }
  }
  return {
    port,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
