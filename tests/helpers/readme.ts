// The README is the user's documentation; tests that check it read one "## " section.
import { readFileSync } from "node:fs";
import { REPO } from "./env";

export function readmeSection(title: string): string {
  const readme = readFileSync(`${REPO}/README.md`, "utf8");
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`README.md has no "## ${title}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start + 1, end === -1 ? undefined : end + 1);
}
