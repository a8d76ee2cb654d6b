import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { JsonlAppender } from "../../lib/shared/jsonl";
import { tempDir } from "../helpers/env";

test("appends whole lines after existing content, never rewriting it", () => {
  const dir = tempDir();
  const path = `${dir.path}/sub/log.jsonl`;
  const first = new JsonlAppender(path);
  first.append([{ a: 1 }]);
  first.close();
  const second = new JsonlAppender(path);
  second.append([{ b: "привет 👋\nline" }, { c: 3 }]);
  second.append([]);
  second.close();
  const lines = readFileSync(path, "utf8").split("\n");
  expect(lines).toEqual(['{"a":1}', '{"b":"привет 👋\\nline"}', '{"c":3}', ""]);
  writeFileSync(path, "x\n", { flag: "a" });
  dir.cleanup();
});
