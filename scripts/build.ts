// `bun run build` (docs/install.md): dist/mailer-client,
// mailer-server, mailer-collector, mailer-sandbox and mailer-web as single-file executables.
import { runCommand, type CommandSpec } from "../lib/shared/args";
import { BINARIES } from "../lib/build/binaries";

const BUILD_COMMAND: CommandSpec = {
  program: "scripts/build.ts",
  usage: `Usage: bun scripts/build.ts [--outdir DIR] [--no-bytecode]    (bun run build)

Builds ${BINARIES.map((b) => b.name).join(", ")} as single-file executables (Bun included) in
DIR (default dist/). They read .env and .env.local from the working directory, like the scripts.

      --outdir DIR    where to write them (default dist)
      --no-bytecode   skip precompiled bytecode (a slower start, a smaller build step)
  -h, --help          this text
      --version       the version`,
  options: { outdir: { type: "string" }, "no-bytecode": { type: "boolean" } },
};

process.exit(
  await runCommand(BUILD_COMMAND, Bun.argv.slice(2), async (line) => {
    const { buildBinaries } = await import("../lib/build/binaries");
    const started = performance.now();
    const paths = await buildBinaries({ outdir: String(line.values.outdir ?? "dist"), bytecode: line.values["no-bytecode"] !== true });
    for (const p of paths) console.log(`built ${p}`);
    console.log(`${paths.length} binaries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  }),
);
