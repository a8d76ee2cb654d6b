// The user's documentation: README.md and its reference pages in docs/. Tests that check it read
// one section by its title — a "## " section of the README, or a docs page's "# " title.
import { readdirSync, readFileSync } from "node:fs";
import { REPO } from "./env";

export function readmeSection(title: string): string {
  const readme = readFileSync(`${REPO}/README.md`, "utf8");
  const found = sectionOf(readme, "## ", title);
  if (found !== null) return found;
  for (const page of readdirSync(`${REPO}/docs`).filter((f) => f.endsWith(".md"))) {
    const section = sectionOf(readFileSync(`${REPO}/docs/${page}`, "utf8"), "# ", title);
    if (section !== null) return section;
  }
  throw new Error(`neither README.md nor docs/*.md has a section "${title}"`);
}

function sectionOf(text: string, level: string, title: string): string | null {
  const lines = text.split("\n");
  let fence = false;
  let start = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("```")) fence = !fence;
    if (fence || !line.startsWith(level)) continue;
    if (start !== -1) return lines.slice(start, i).join("\n") + "\n";
    if (line === `${level}${title}`) start = i;
  }
  return start === -1 ? null : lines.slice(start).join("\n");
}
