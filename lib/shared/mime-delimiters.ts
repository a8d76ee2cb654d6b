// Delimiter lines recognised as mail clients (GMime, Thunderbird) and RFC 2046 §5.1 recognise
// them, replacing checkBoundary() of mailsplit's splitter (@zone-eu/mailsplit 5.4.19, the MIME
// splitter under mailparser; its line splitting, limits and streaming are kept as they are):
//
// - transport padding: "--b  " and "--b-- " are delimiters; white space after the boundary is
//   padding a transport may add, which receivers must handle. Anything else after it (and
//   anything that is not the whole boundary) still makes no delimiter.
// - a delimiter of ANY enclosing multipart ends every part nested in it, also a nested
//   multipart that was never closed: a boundary delimiter may not appear inside the parts it
//   encloses, so it can only be that multipart's. mailsplit looked only at the current
//   multipart's boundary and its parent's, so a grandparent's delimiter became body text.
//   Innermost first, as GMime's boundary stack does.

type Verdict = 1 | 2 | 3 | 4 | false;

/** The parts of mailsplit's MimeNode this reads (lib/mime-node.js). */
interface SplitNode {
  _boundary: Buffer | false;
  _parentBoundary: Buffer | false;
  /** the multipart whose boundary _parentBoundary is (an embedded message's: its container's parent) */
  _parentBoundaryOwner: SplitNode | false;
  _headerlen: number;
  headers: unknown;
  parseHeaders(): void;
}

/** The parts of mailsplit's MessageSplitter this reads (lib/message-splitter.js). */
export interface Splitter {
  node: SplitNode;
  inEpilogue: boolean;
  checkBoundary(line: Buffer): Verdict;
  push(chunk: unknown): boolean;
}

const DASH = 0x2d;
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/** Makes the splitter read delimiter lines as described above. */
export function readDelimitersLikeClients(splitter: Splitter): void {
  splitter.checkBoundary = (line) => checkBoundary(splitter, line);
}

/**
 * mailsplit's verdicts: 1 next part and 2 end of the current multipart (its preamble or
 * epilogue holds the line), 3 next part and 4 end of the multipart the current node is a part
 * of. A delimiter of a multipart further out first makes the current node the nested multipart
 * just inside that one, so verdict 3 or 4 then applies to it.
 */
function checkBoundary(splitter: Splitter, line: Buffer): Verdict {
  const start = valueStart(line);
  if (start < 0) return false;
  const node = splitter.node;
  if (!splitter.inEpilogue && node._boundary) {
    const own = delimiterOf(line, start, node._boundary);
    if (own) return own;
  }
  let inner = node;
  for (let boundary = node._parentBoundary, owner = node._parentBoundaryOwner; boundary && owner; boundary = owner._parentBoundary, owner = owner._parentBoundaryOwner) {
    const found = delimiterOf(line, start, boundary);
    if (found) {
      if (inner !== node) leaveNested(splitter, inner);
      return (found + 2) as Verdict;
    }
    inner = owner;
  }
  return false;
}

/** Where the value after "--" starts on a delimiter-like line (after a line break the splitter
 *  may have carried over from the line before, as its own checkBoundary allows); -1 when the
 *  line does not start with "--". */
function valueStart(line: Buffer): number {
  let start = 0;
  if (line[0] === 0x0d || line[0] === 0x0a) start = line[0] === 0x0d && line[1] === 0x0a ? 2 : 1;
  return line[start] === DASH && line[start + 1] === DASH ? start + 2 : -1;
}

/** 1: from `start` the line is the boundary (a delimiter), 2: the boundary and "--" (a close
 *  delimiter) — either followed only by padding and the line break. The whole boundary is
 *  compared first, so one that itself ends in a space still matches only itself. */
function delimiterOf(line: Buffer, start: number, boundary: Buffer): 1 | 2 | false {
  if (line.length - start < boundary.length) return false;
  for (let i = 0; i < boundary.length; i++) if (line[start + i] !== boundary[i]) return false;
  let pos = start + boundary.length;
  const verdict = line[pos] === DASH && line[pos + 1] === DASH ? 2 : 1;
  if (verdict === 2) pos += 2;
  while (pos < line.length && isSpace(line[pos])) pos++;
  return pos === line.length ? verdict : false;
}

/** Leaves the current node for `inner`, a multipart it is nested in: a part still in its
 *  header (no blank line came) is handed on first, as mailsplit does when a delimiter ends it. */
function leaveNested(splitter: Splitter, inner: SplitNode): void {
  const current = splitter.node;
  if (current._headerlen && !current.headers) {
    current.parseHeaders();
    splitter.push(current);
  }
  splitter.node = inner;
}
