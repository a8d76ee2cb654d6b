import { afterEach, expect, test } from "bun:test";
import { lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "../../lib/shared/durable-file";
import { tempDir } from "../helpers/env";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

test("replaces the file whole, with the mode asked for, and leaves no temp file", () => {
  const t = tempDir();
  cleanups.push(t.cleanup);
  writeFileDurably(t.path, "token.json", "one", 0o600);
  writeFileDurably(t.path, "token.json", "two", 0o600);
  expect(readFileSync(join(t.path, "token.json"), "utf8")).toBe("two");
  expect(statSync(join(t.path, "token.json")).mode & 0o777).toBe(0o600);
  expect(readdirSync(t.path)).toEqual(["token.json"]);
});

test("a symlink planted at the old predictable temp name is not written through", () => {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const victim = join(t.path, "victim");
  writeFileSync(victim, "keep me");
  symlinkSync(victim, join(t.path, `.token.json.${process.pid}.tmp`));
  writeFileDurably(t.path, "token.json", "secret", 0o600);
  expect(readFileSync(victim, "utf8")).toBe("keep me");
  expect(lstatSync(join(t.path, "token.json")).isSymbolicLink()).toBe(false);
  expect(readFileSync(join(t.path, "token.json"), "utf8")).toBe("secret");
});
