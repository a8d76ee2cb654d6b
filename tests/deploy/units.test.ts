// The systemd units in deploy/ (docs/install.md): `systemd-analyze verify` accepts them with no
// warning (an unknown or misspelt option is only a warning there, so stderr must be empty), with
// ExecStart pointed at freshly built binaries; and they hold what docs/install.md promises.
import { expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtBinaries } from "../helpers/binaries";
import { REPO } from "../helpers/env";
import { useTempDirs } from "../helpers/kit";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const temp = useTempDirs("mailer-units-");
const UNITS = ["mailer-server", "mailer-collector"];
const hasVerify = Bun.spawnSync(["sh", "-c", "command -v systemd-analyze"]).exitCode === 0;
const unit = (name: string) => readFileSync(join(REPO, "deploy", `${name}.service`), "utf8");

test.skipIf(!hasVerify && process.env.CI !== "true")("systemd-analyze verify accepts both units, without a warning", async () => {
  expect(hasVerify).toBe(true); // CI=true: systemd-analyze must be there (Debian's systemd package)
  const bin = await builtBinaries();
  const dir = temp();
  for (const name of UNITS) {
    // the same unit, run from where the test built the binary instead of /usr/local/bin
    writeFileSync(join(dir, `${name}.service`), unit(name).replaceAll(`/usr/local/bin/${name}`, join(bin, name)));
  }
  const r = Bun.spawnSync(["systemd-analyze", "verify", ...UNITS.map((n) => join(dir, `${n}.service`))]);
  expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({ code: 0, stderr: "" });
}, 180_000);

test("restart on failure but not on a configuration error, a user of their own, sandboxing, secrets from an EnvironmentFile, no reload", () => {
  for (const name of UNITS) {
    const text = unit(name);
    for (const line of [
      `ExecStart=/usr/local/bin/${name}`, "EnvironmentFile=/etc/mailer/mailer.env", "Restart=on-failure", "RestartPreventExitStatus=2",
      "DynamicUser=yes", `StateDirectory=${name}`, "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
    ]) {
      expect({ name, has: text.split("\n").includes(line) ? line : `missing: ${line}` }).toEqual({ name, has: line });
    }
    // SIGHUP stops the programs (lib/shared/shutdown.ts): offering `systemctl reload` would stop the service
    expect(text).not.toMatch(/^ExecReload=/m);
  }
  expect(unit("mailer-collector")).toContain("LogsDirectory=mailer");
});
