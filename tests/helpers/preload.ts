// Loaded before every test file (bunfig.toml [test] preload), so that the README's plain
// `bun test` gives each test the same generous deadline as CI: Bun 1.4 ignores `[test] timeout`
// in bunfig.toml (bun#7789), but honours setDefaultTimeout. A deadline, never a speed
// assertion: on a loaded 2-core machine a test of real processes may take several times its
// usual time. Tests that need longer still pass their own timeout.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000);
