import { expect, test } from "bun:test";
import { readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { JsonlAppender } from "../../lib/shared/jsonl";
import { tempDir } from "../helpers/env";

test("appends whole lines after existing content, never rewriting it; knows each line's offset", async () => {
  const dir = tempDir();
  const path = `${dir.path}/log.jsonl`;
  const first = new JsonlAppender(path);
  expect(first.write([{ a: 1 }])).toEqual([0]);
  await first.sync();
  first.close();
  const second = new JsonlAppender(path);
  expect(second.write([{ b: "привет 👋\nline" }, { c: 3 }])).toEqual([8, 8 + Buffer.byteLength('{"b":"привет 👋\\nline"}\n')]);
  expect(second.write([])).toEqual([]);
  await second.sync();
  second.close();
  const lines = readFileSync(path, "utf8").split("\n");
  expect(lines).toEqual(['{"a":1}', '{"b":"привет 👋\\nline"}', '{"c":3}', ""]);
  writeFileSync(path, "x\n", { flag: "a" });
  dir.cleanup();
});

test("a symlink in place of the file is refused, and its target is left untouched", () => {
  const dir = tempDir();
  const target = `${dir.path}/someone-elses-file`;
  writeFileSync(target, "precious\n");
  symlinkSync(target, `${dir.path}/log.jsonl`);
  expect(() => new JsonlAppender(`${dir.path}/log.jsonl`)).toThrow(/is a symbolic link; Mailer never writes through one/);
  expect(readFileSync(target, "utf8")).toBe("precious\n");
  dir.cleanup();
});

test("new files are created 0600", () => {
  const dir = tempDir();
  new JsonlAppender(`${dir.path}/new.jsonl`).close();
  expect(statSync(`${dir.path}/new.jsonl`).mode & 0o777).toBe(0o600);
  dir.cleanup();
});
