// SEARCH and UID SEARCH in the sandbox as Dovecot answers them (issue 12). hoodiecrow refused
// parenthesised search keys (`UID SEARCH (UNSEEN)`, `(SINCE 1-Jan-2020)`, valid in RFC 3501:
// a list is the AND of its keys) with "BAD Invalid search criteria", and sent no untagged
// `* SEARCH` line for an empty result, so Python's imaplib returned [None].
//
// A list is rewritten into keys hoodiecrow understands: at the top level and inside another
// list its keys simply follow one another (hoodiecrow ANDs them); where one key is expected
// (after NOT, or as an operand of OR) the AND of several keys is written NOT (OR (NOT a) (NOT b)).

type Attr = { type: string; value: unknown } | Attr[];

/** How many arguments each key takes: "v" a value, "k" a key. Keys not listed take none. */
const ARGS: Record<string, string> = {
  BCC: "v", BEFORE: "v", BODY: "v", CC: "v", FROM: "v", HEADER: "vv", KEYWORD: "v", LARGER: "v", NOT: "k", ON: "v", OR: "kk",
  SENTBEFORE: "v", SENTON: "v", SENTSINCE: "v", SINCE: "v", SMALLER: "v", SUBJECT: "v", TEXT: "v", TO: "v", UID: "v", UNKEYWORD: "v",
};

const atom = (value: string): Attr => ({ type: "ATOM", value });

/** Reads one key (with its arguments) from `list` at `pos`; a list is one key, their AND. */
function readKey(list: Attr[], pos: { i: number }): Attr[] {
  const item = list[pos.i++]!;
  if (Array.isArray(item)) return andOf(keysOf(item));
  const out: Attr[] = [item];
  for (const kind of ARGS[String(item.value).toUpperCase()] ?? "") {
    if (pos.i >= list.length) break; // hoodiecrow reports the missing argument itself
    if (kind === "v") out.push(list[pos.i++]!);
    else out.push(...readKey(list, pos));
  }
  return out;
}

function keysOf(list: Attr[]): Attr[][] {
  const keys: Attr[][] = [];
  for (const pos = { i: 0 }; pos.i < list.length; ) keys.push(readKey(list, pos));
  return keys;
}

/** The AND of keys as a single key. */
function andOf(keys: Attr[][]): Attr[] {
  if (keys.length === 0) return [atom("ALL")];
  if (keys.length === 1) return keys[0]!;
  return [atom("NOT"), atom("OR"), atom("NOT"), ...keys[0]!, atom("NOT"), ...andOf(keys.slice(1))];
}

/** Search criteria with every list rewritten (see above). */
export function flattenSearchKeys(attributes: Attr[]): Attr[] {
  // a leading CHARSET and its argument stay where they are
  const head = attributes.length >= 2 && !Array.isArray(attributes[0]) && String(attributes[0]!.value).toUpperCase() === "CHARSET" ? attributes.slice(0, 2) : [];
  return [...head, ...keysOf(attributes.slice(head.length)).flat()];
}

/** The hoodiecrow plugin: wraps SEARCH and UID SEARCH. */
export function searchFix(server: any): void {
  for (const command of ["SEARCH", "UID SEARCH"]) {
    const original = server.getCommandHandler(command);
    server.setCommandHandler(command, (connection: any, parsed: any, data: unknown, callback: () => void) => {
      if (Array.isArray(parsed.attributes)) parsed.attributes = flattenSearchKeys(parsed.attributes);
      // an untagged SEARCH line before the tagged OK, even for no match (RFC 3501 §7.2.5)
      const send = connection.send;
      let listed = false;
      connection.send = function (response: any, ...rest: unknown[]) {
        if (response?.tag === "*" && response.command === "SEARCH") listed = true;
        if (response?.tag === parsed.tag && response.command === "OK" && !listed) send.call(this, { tag: "*", command: "SEARCH", attributes: [] }, ...rest);
        return send.call(this, response, ...rest);
      };
      try {
        original(connection, parsed, data, callback);
      } finally {
        connection.send = send;
      }
    });
  }
}
