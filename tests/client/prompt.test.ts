// The terminal prompter (lib/client/prompt.ts) on a pretend terminal: Ctrl-D at a one-line
// question ends the prompt's line, so what is printed next starts on a line of its own.
import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { TerminalPrompter } from "../../lib/client/prompt";

function terminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input }) as unknown as NodeJS.ReadStream;
  let written = "";
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: 80 }) as unknown as NodeJS.WriteStream;
  output.on("data", (c: Buffer) => (written += c.toString()));
  return { input, output, written: () => written };
}

test("Ctrl-D at the address prompt: null, and the prompt's line is ended", async () => {
  const t = terminal();
  const p = new TerminalPrompter(() => {}, t.input, t.output);
  const answer = p.ask("Your email address: ");
  await Bun.sleep(10);
  t.input.write("\x04"); // Ctrl-D on an empty line
  expect(await answer).toBeNull();
  p.close();
  await Bun.sleep(10);
  expect(t.written()).toContain("Your email address: ");
  expect(t.written().endsWith("\n")).toBe(true);
});
