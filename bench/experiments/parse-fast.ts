// One-off: CPU per message of lib/shared/mail-text.ts parseMail on the bench message mix
// (bench/messages.ts), against the mailparser path alone (parseMailWithMailparser, when this
// checkout has it) in the same run, rounds interleaved so load on the shared machine hits both
// alike; best round of each, whole mix and per message shape.
//   bun bench/experiments/parse-fast.ts [messages=2000] [rounds=5]
import { loadavg } from "node:os";
import * as mailText from "../../lib/shared/mail-text";
import { generateMessages } from "../messages";

const count = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 5);
const messages = generateMessages(count, 7);
type Parse = (raw: Buffer) => Promise<unknown>;
const paths: [string, Parse][] = [["parseMail", mailText.parseMail]];
const full = (mailText as Record<string, unknown>).parseMailWithMailparser as Parse | undefined;
if (full) paths.push(["mailparser only", full]);
const groups: [string, Buffer[]][] = [["whole mix", messages.map((m) => m.raw)]];
for (const shape of new Set(messages.map((m) => m.shape))) groups.push([shape, messages.filter((m) => m.shape === shape).map((m) => m.raw)]);

const best = new Map<string, number>();
for (let r = 0; r < rounds + 1; r++) {
  for (const [group, raws] of groups) {
    for (const [name, parse] of paths) {
      const t0 = performance.now();
      for (const raw of raws) await parse(raw);
      const us = ((performance.now() - t0) * 1000) / raws.length;
      const key = `${group.padEnd(12)} ${String(raws.length).padStart(5)} msgs  ${name}`;
      if (r > 0) best.set(key, Math.min(best.get(key) ?? Infinity, us)); // round 0 warms the JIT
    }
  }
}
console.log(`${count} messages, best of ${rounds} rounds, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const [key, us] of best) console.log(`${key.padEnd(44)} ${us.toFixed(1)} µs/message`);
