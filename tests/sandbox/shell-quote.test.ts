// The client command the demo prints can be pasted into bash: bash itself reads it back
// (lib/sandbox/shell-quote.ts), newlines, quotes and Cyrillic included.
import { expect, test, setDefaultTimeout } from "bun:test";
import { shellCommand, shellQuote } from "../../lib/sandbox/shell-quote";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

test("bash reads every quoted word back exactly", () => {
  const words = ["ivan@example.com", "Здравствуйте! Это демо 📬\nВторая строка — всё ✅", "it's \"quoted\" $HOME `x` \\ end", "tab\there\r\x01", "plain", ""];
  const printed = shellCommand(["printf", "%s\\0", ...words]);
  const r = Bun.spawnSync(["bash", "-c", printed]);
  expect(r.exitCode).toBe(0);
  expect(r.stdout.toString().split("\0").slice(0, -1)).toEqual(words);
});

test("a newline is written the way bash turns into one: $'…\\n…'", () => {
  expect(shellQuote("line 1\nline 2")).toBe("$'line 1\\nline 2'");
  expect(shellQuote("no newline")).toBe("'no newline'");
  expect(shellQuote("ivan@example.com")).toBe("ivan@example.com");
});
