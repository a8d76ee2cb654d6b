// Terminal prompts for the interactive client. On a terminal, node:readline runs the line
// editing; Ctrl-D there closes the readline interface but not the terminal, so a fresh
// interface is made for the next question (the person may be asked again after an error).
import { createInterface, type Interface } from "node:readline";

export interface Prompter {
  /** One line; null on Ctrl-D / end of input. */
  ask(question: string): Promise<string | null>;
  /** Lines until an empty line or Ctrl-D; null when Ctrl-D comes before anything was typed. */
  askLines(intro: string, linePrompt?: string): Promise<string | null>;
  say(text: string): void;
  close(): void;
}

export class TerminalPrompter implements Prompter {
  private rl: Interface | null = null;
  private lines: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private ended = false;

  /** `onInterrupt`: Ctrl-C at a prompt; the entry point exits (130), lib/ never does. */
  constructor(
    private readonly onInterrupt: () => void,
    private readonly input: NodeJS.ReadStream = process.stdin,
    // questions on stderr: stdout carries only the result (`bun client.ts > file`)
    private readonly output: NodeJS.WriteStream = process.stderr,
  ) {}

  private open(): Interface {
    if (this.rl) return this.rl;
    const rl = createInterface({ input: this.input, output: this.output, terminal: Boolean(this.input.isTTY) });
    rl.on("line", (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(line);
      } else this.lines.push(line);
    });
    rl.on("close", () => {
      this.rl = null;
      // A terminal can be read again after Ctrl-D; a pipe or file cannot.
      if (!this.input.isTTY) this.ended = true;
      const w = this.waiting;
      this.waiting = null;
      w?.(null);
    });
    rl.on("SIGINT", () => {
      this.output.write("\n");
      this.onInterrupt();
    });
    this.rl = rl;
    return rl;
  }

  private next(prompt: string): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.ended) return Promise.resolve(null);
    const rl = this.open();
    rl.setPrompt(prompt);
    rl.prompt();
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async ask(question: string): Promise<string | null> {
    const answer = await this.next(question);
    // Ctrl-D leaves the cursor after the question; what is printed next starts a new line
    if (answer === null && this.input.isTTY) this.output.write("\n");
    return answer;
  }

  async askLines(intro: string, linePrompt = "> "): Promise<string | null> {
    this.say(intro);
    const lines: string[] = [];
    for (;;) {
      const line = await this.next(linePrompt);
      if (line === null) {
        // Ctrl-D leaves the cursor after the "> " prompt; the next output starts a new line.
        if (this.input.isTTY) this.output.write("\n");
        return lines.length ? lines.join("\n") : null;
      }
      if (line === "") return lines.join("\n");
      lines.push(line);
    }
  }

  say(text: string): void {
    this.output.write(text + "\n");
  }

  close(): void {
    this.rl?.close();
    this.rl = null;
  }
}
