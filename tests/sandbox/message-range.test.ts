import { expect, test } from "bun:test";
import { messageRange, messageRangeFix } from "../../lib/sandbox/message-range";

import hoodiecrow from "hoodiecrow-imap";

// hoodiecrow's own implementation, from the prototype of a server that is never started
const original = Object.getPrototypeOf(hoodiecrow({})).getMessageRange as (box: unknown, range: string, isUid: boolean) => [number, { uid: number }][];

// a mailbox with gaps in its UIDs, as after expunges
const messages = [1, 2, 3, 5, 8, 9, 10, 20, 21, 40].map((uid) => ({ uid, flags: [], raw: "" }));
const RANGES = ["1", "1:*", "*", "*:1", "3:1", "5:*", "*:5", "2,4:9,20", "15:19", "0", "0:3", "41", "40:50", "abc", "", "7:", ":7", "1,1,1", "20:21,1:2", "*:*", "11:*"];

test("the sandbox's message range answers exactly as hoodiecrow's own, for UIDs and sequence numbers", () => {
  for (const isUid of [true, false]) {
    for (const range of RANGES) {
      const expected = original.call({}, { messages }, range, isUid).map(([seq, m]) => [seq, m.uid]);
      expect({ range, isUid, got: messageRange(messages, range, isUid).map(([seq, m]) => [seq, m.uid]) }).toEqual({ range, isUid, got: expected });
    }
  }
  // an empty mailbox
  expect(messageRange([] as { uid: number }[], "1:*", true)).toEqual(original.call({}, { messages: [] }, "1:*", true));
});

test("a range is read once per command, not once per message of the mailbox (a batched FETCH cost the sandbox O(mailbox) splits)", () => {
  const big = Array.from({ length: 2000 }, (_, i) => ({ uid: i + 1 }));
  const server: any = { getMailbox: () => ({ messages: big }) };
  messageRangeFix(server);
  const split = String.prototype.split;
  let calls = 0;
  String.prototype.split = function (this: string, ...args: any[]) {
    calls++;
    return (split as any).apply(this, args);
  } as typeof split;
  try {
    expect(server.getMessageRange("INBOX", "101:200", true).length).toBe(100);
  } finally {
    String.prototype.split = split;
  }
  expect(calls).toBeLessThan(10);
});
