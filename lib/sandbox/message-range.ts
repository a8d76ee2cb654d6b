// hoodiecrow's getMessageRange (which messages a FETCH/STORE/COPY/SEARCH range names) splits
// every part of the range string again for every message of the mailbox: a UID FETCH of 100
// messages in a 10,000-message INBOX parsed "a:b" 10,000 times. A client that fetches in
// batches (the collector: one UID FETCH per 100 UIDs) then cost the sandbox ~1 s of CPU per
// 10,000 messages where one FETCH 1:* cost almost nothing — a cost no real server has (Dovecot
// looks ranges up in its index). Same answer, the range parsed once per command.

interface Ranged {
  uid?: number;
}

/** [low, high] bounds of each comma-separated part, exactly as hoodiecrow reads them:
 *  "*" is `total`, a missing or unreadable number is 1 (or the part's other end). */
export function parseRange(range: string, total: number): [number, number][] {
  return range.split(",").map((part) => {
    const pieces = part.split(":");
    const first = pieces.shift()!;
    const from = Number(first === "*" ? total : first) || 1;
    const last = pieces.pop() || from;
    const to = Number((last === "*" && total) || last) || from;
    return [Math.min(from, to), Math.max(from, to)];
  });
}

/** [seq, message] for every message `range` names (UIDs when `isUid`), in mailbox order. */
export function messageRange<M extends Ranged>(messages: M[], range: string, isUid: boolean): [number, M][] {
  let maxUid = 0;
  for (const m of messages) if (m.uid! > maxUid) maxUid = m.uid!;
  const bounds = parseRange(String(range || ""), isUid ? maxUid : messages.length);
  const result: [number, M][] = [];
  for (let i = 0; i < messages.length; i++) {
    const nr = isUid ? messages[i]!.uid || 1 : i + 1;
    for (const [low, high] of bounds) {
      if (nr >= low && nr <= high) {
        result.push([i + 1, messages[i]!]);
        break;
      }
    }
  }
  return result;
}

/** The hoodiecrow plugin: replaces the server's getMessageRange. */
export function messageRangeFix(server: any): void {
  server.getMessageRange = function (mailbox: unknown, range: unknown, isUid: boolean) {
    const box = typeof mailbox === "string" ? this.getMailbox(mailbox) : mailbox;
    const messages = Array.isArray(box) ? box : (box as { messages: Ranged[] }).messages;
    return messageRange(messages, String(range || ""), isUid);
  };
}
