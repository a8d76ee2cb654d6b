// `bun run build`: the programs as single-file executables (`bun build --compile`), each with
// Bun inside, so a machine without Bun runs them (docs/install.md). The collector's parse
// worker is an extra entry point of its binary; collector.ts finds it from its own URL.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { MailerError } from "../shared/errors";

const REPO = resolve(import.meta.dir, "../..");

export interface Binary {
  /** the file written in the output directory */
  name: string;
  /** the entry point first, then any worker it starts */
  entrypoints: string[];
}

export const BINARIES: Binary[] = [
  { name: "mailer-client", entrypoints: ["client.ts"] },
  { name: "mailer-server", entrypoints: ["server.ts"] },
  { name: "mailer-collector", entrypoints: ["collector.ts", "lib/collector/parse-worker.ts"] },
  // the embedded SMTP + IMAP sandbox: to try the binaries on a machine with no mail account
  { name: "mailer-sandbox", entrypoints: ["scripts/sandbox.ts"] },
  // the tickets dashboard and web form (its static files are imported as files: inside the binary)
  { name: "mailer-web", entrypoints: ["web.ts"] },
];

export interface BuildOptions {
  outdir: string;
  /** precompiled bytecode: a faster start (bench/FINDINGS.md, "Single-file binaries: bytecode for start-up"); default on */
  bytecode?: boolean;
  /** only these binaries (default: all) */
  only?: string[];
}

/** Builds each binary; resolves to the paths written. A failed build is a MailerError naming it. */
export async function buildBinaries(o: BuildOptions): Promise<string[]> {
  const outdir = resolve(o.outdir);
  mkdirSync(outdir, { recursive: true });
  const written: string[] = [];
  for (const b of BINARIES.filter((x) => !o.only || o.only.includes(x.name))) {
    const outfile = join(outdir, b.name);
    const result = await Bun.build({
      entrypoints: b.entrypoints.map((e) => join(REPO, e)),
      root: REPO,
      target: "bun",
      // bytecode with top-level await (the entry points have it) needs ES modules
      ...(o.bytecode === false ? {} : { bytecode: true, format: "esm" as const }),
      // the binaries read .env/.env.local from the working directory, as `bun client.ts` does
      compile: { outfile, autoloadDotenv: true },
      throw: false,
    });
    if (!result.success) {
      throw new MailerError("local", `cannot build ${b.name}: ${result.logs.map((l) => l.message).join("; ")}`);
    }
    written.push(outfile);
  }
  return written;
}
