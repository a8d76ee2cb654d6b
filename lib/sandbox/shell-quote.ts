// Commands the demo prints for a person to paste into bash: plain words as they are, text with
// spaces in '…', and text with a newline or another control character in $'…' (bash's ANSI-C
// quoting, the only quoting in which "\n" is a newline).

export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f\x7f]/.test(word)) return `'${word.replaceAll("'", `'\\''`)}'`;
  const escaped = [...word]
    .map((ch) => {
      if (ch === "\\") return "\\\\";
      if (ch === "'") return "\\'";
      if (ch === "\n") return "\\n";
      if (ch === "\t") return "\\t";
      if (ch === "\r") return "\\r";
      const code = ch.charCodeAt(0);
      return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : ch;
    })
    .join("");
  return `$'${escaped}'`;
}

export function shellCommand(words: string[]): string {
  return words.map(shellQuote).join(" ");
}
