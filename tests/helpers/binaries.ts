// The compiled binaries for tests (tests/process/binaries.test.ts, tests/deploy/units.test.ts),
// built once per source version into a temporary directory and reused by later runs; older
// builds are removed, so at most one set (~440 MB) stays in the temp dir.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { buildBinaries } from "../../lib/build/binaries";
import { REPO } from "./env";

export const TEST_BINARIES = ["mailer-client", "mailer-server", "mailer-collector", "mailer-sandbox", "mailer-web"];
const PREFIX = "mailer-binaries-";

/** What the binaries are built from: the entry points, lib/, the lock file, Bun's version. */
function sourceHash(): string {
  const hash = createHash("sha256").update(Bun.version);
  const files = ["client.ts", "server.ts", "collector.ts", "web.ts", "scripts/sandbox.ts", "package.json", "bun.lock", ...walk(join(REPO, "lib"))];
  for (const f of files.sort()) hash.update(f).update(readFileSync(join(REPO, f)));
  return hash.digest("hex").slice(0, 16);
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [relative(REPO, path)];
  });
}

/** The directory holding TEST_BINARIES for the current sources (built now if needed). */
export async function builtBinaries(): Promise<string> {
  const dir = join(tmpdir(), `${PREFIX}${sourceHash()}`);
  // older builds go; one touched in the last 10 minutes may be in use by another test run
  for (const old of readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX) && join(tmpdir(), n) !== dir)) {
    const path = join(tmpdir(), old);
    if (Date.now() - statSync(path).mtimeMs > 10 * 60_000) rmSync(path, { recursive: true, force: true });
  }
  if (TEST_BINARIES.every((b) => existsSync(join(dir, b)))) return dir;
  const building = `${dir}.${process.pid}.tmp`;
  await buildBinaries({ outdir: building, only: TEST_BINARIES });
  rmSync(dir, { recursive: true, force: true });
  renameSync(building, dir);
  return dir;
}
