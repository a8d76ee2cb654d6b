// The pure parts of the benchmark harness (bench/): statistics, the inbox-backlog generator,
// and the target verdicts the report prints. The benchmarks themselves run with `bun run bench`.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { encodeCp1251, generateMessages, prng, quotedPrintable } from "../../bench/messages";
import { closedLoop, holdIdle, makeRequest, sendOne } from "../../bench/load";
import { BUN, benchEnv, procMemory, spawnChild } from "../../bench/proc";
import { renderReport, targets, type Results } from "../../bench/report";
import { median, percentile, ratio, summarize, verdict } from "../../bench/stats";

setDefaultTimeout(60_000); // plain `bun test` on a loaded machine: Bun's 5 s default is too short here (docs/development.md "Development")

const { simpleParser } = require("mailparser") as { simpleParser(raw: Buffer): Promise<{ subject?: string; text?: string; attachments: unknown[] }> };

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
  test("picks measured samples", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([10, 20], 50)).toBe(10);
    expect(percentile([10, 20], 51)).toBe(20);
  });
  test("one sample is every percentile; none is NaN", () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
  test("rejects p outside 0..100", () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
  });
  test("does not reorder the caller's array", () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe("median", () => {
  test("odd and even counts", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe("summarize / ratio / verdict", () => {
  test("latency summary", () => {
    const s = summarize([1, 2, 3, 4, 100]);
    expect(s).toEqual({ count: 5, p50: 3, p90: 100, p99: 100, max: 100, mean: 22 });
  });
  test("ratio guards against a missing or zero limit", () => {
    expect(ratio(80, 100)).toBe(0.8);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(NaN, 5)).toBeNaN();
  });
  test("verdict", () => {
    expect(verdict(true)).toBe("PASS");
    expect(verdict(false)).toBe("MISS");
    expect(verdict(null)).toBe("n/a");
  });
});

describe("message generator", () => {
  test("deterministic for a seed, different across seeds", () => {
    const a = generateMessages(50, 3).map((m) => m.raw.toString("base64"));
    const b = generateMessages(50, 3).map((m) => m.raw.toString("base64"));
    const c = generateMessages(50, 4).map((m) => m.raw.toString("base64"));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(prng(9)()).toBe(prng(9)());
  });

  test("the mix has every kind and shape, ticket numbers consecutive and unique", () => {
    const msgs = generateMessages(1000, 1, 70001);
    const kinds = new Set(msgs.map((m) => m.kind));
    const shapes = new Set(msgs.map((m) => m.shape));
    expect([...kinds].sort()).toEqual(["other", "reply", "ticket"]);
    expect([...shapes].sort()).toEqual(["alternative", "cp1251-b64", "cp1251-qp", "mixed", "plain"]);
    const tickets = msgs.filter((m) => m.ticket).map((m) => Number(m.ticket));
    expect(tickets[0]).toBe(70001);
    expect(tickets).toEqual(tickets.map((_, i) => 70001 + i));
    const cp1251 = msgs.filter((m) => m.shape.startsWith("cp1251")).length;
    expect(cp1251).toBeGreaterThan(200);
    expect(cp1251).toBeLessThan(400);
    expect(new Set(msgs.map((m) => m.messageId)).size).toBe(1000);
  });

  test("every message parses back to its subject and text (windows-1251 and multipart included)", async () => {
    for (const m of generateMessages(300, 11)) {
      const parsed = await simpleParser(m.raw);
      expect(parsed.subject).toBe(m.subject);
      expect((parsed.text ?? "").trim()).toBe(m.text.trim());
      expect(parsed.attachments.length).toBe(m.shape === "mixed" ? 1 : 0);
      if (m.ticket) expect(m.subject).toContain(`[Ticket #${m.ticket}] Mailer`);
    }
  });

  test("windows-1251 messages really carry windows-1251 bytes", () => {
    const m = generateMessages(200, 5).find((x) => x.shape === "cp1251-b64")!;
    const source = m.raw.toString("latin1");
    expect(source).toContain("charset=windows-1251");
    const body = Buffer.from(source.split("\r\n\r\n")[1]!.replace(/\r\n/g, ""), "base64");
    expect(new TextDecoder("windows-1251").decode(body).replace(/\r\n/g, "\n")).toBe(m.text);
  });

  test("encodeCp1251 maps Cyrillic, Ё/ё and ASCII", () => {
    expect([...encodeCp1251("АяЁё a")]).toEqual([0xc0, 0xff, 0xa8, 0xb8, 0x20, 0x61]);
    expect(encodeCp1251("€")[0]).toBe(0x3f);
  });

  test("quoted-printable keeps lines ≤ 76 and escapes = and 8-bit bytes", () => {
    const qp = quotedPrintable(Buffer.from("a=b " + "x".repeat(200) + " ё\r\nnext "));
    for (const line of qp.split("\r\n")) expect(line.length).toBeLessThanOrEqual(76);
    expect(qp).toContain("a=3Db");
    expect(qp).toContain("=D1=91");
    expect(qp.endsWith("next=20")).toBe(true); // trailing space is encoded
  });
});

describe("report", () => {
  const base: Results = {
    quick: false, durationSec: 1, params: {},
    machine: { date: "2026-01-01T00:00:00Z", commit: "abc", nproc: 2, memoryGiB: 24, cpuModel: "cpu", bun: "1.4.4", kernel: "k", loadBefore: [0, 0, 0], loadAfter: [0, 0, 0], ulimitNofile: "20000" },
  };
  const level = (ratio: number) => ({ connections: 50, tickets: 10, reps: 1, ticketsPerSec: 1, limitMessagesPerSec: 1, ratio, p50: 1, p99: 2, runs: [], limitRuns: [] });
  const light = (p99: number) => ({ connections: 5, tickets: 10, reps: 1, p50: 1, p99, max: p99, ticketsPerSec: 1 });

  test("targets: PASS and MISS at the thresholds", () => {
    const pass = targets({ ...base, server: { levels: [level(0.8)], light: light(25) } });
    expect(pass.map((t) => t.verdict)).toEqual(["PASS", "PASS"]);
    const miss = targets({ ...base, server: { levels: [level(0.79)], light: light(25.1) } });
    expect(miss.map((t) => t.verdict)).toEqual(["MISS", "MISS"]);
  });

  test("capacity passes only when every connection was accepted and stayed open", () => {
    const cap = { target: 100, opened: 100, closedByServer: 0, errors: {}, baselineRssMB: 10, rssMB: 20, serverSockets: 100, probe: summarize([1, 2]), probeErrors: {}, stillOpenAfterProbe: 100 };
    expect(targets({ ...base, capacity: cap })[0]!.verdict).toBe("PASS");
    expect(targets({ ...base, capacity: { ...cap, serverSockets: 90 } })[0]!.verdict).toBe("MISS");
    expect(targets({ ...base, capacity: { ...cap, stillOpenAfterProbe: 99 } })[0]!.verdict).toBe("MISS");
  });

  test("a skipped section is reported, not judged", () => {
    const md = renderReport({ ...base, server: { skipped: "server.ts is not in this checkout yet" } });
    expect(md).toContain("Skipped: server.ts is not in this checkout yet");
    expect(targets({ ...base, server: { skipped: "x" } })).toEqual([]);
    expect(md).toContain("| CPU | cpu, 2 cores (nproc) |");
  });
});

test("procMemory reads this process's RSS and peak from /proc", () => {
  const m = procMemory(process.pid);
  expect(m).not.toBeNull();
  expect(m!.rss).toBeGreaterThan(1024 * 1024);
  expect(m!.hwm).toBeGreaterThanOrEqual(m!.rss);
  expect(procMemory(2 ** 22 + 12345)).toBeNull();
});

describe("load generator (bench/load.ts) against a small NDJSON server", () => {
  // Answers each line in order: OK with a counter, or ERROR for messages that contain "bad";
  // one byte at a time for the first reply of each connection (framing must not matter).
  function ndjsonServer() {
    let ticket = 10000;
    let open = 0;
    const server = Bun.listen<{ buf: string; first: boolean }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) { s.data = { buf: "", first: true }; open++; },
        close() { open--; },
        data(s, chunk) {
          s.data.buf += chunk.toString();
          let nl: number;
          while ((nl = s.data.buf.indexOf("\n")) >= 0) {
            const req = JSON.parse(s.data.buf.slice(0, nl));
            s.data.buf = s.data.buf.slice(nl + 1);
            const reply = String(req.message).includes("bad")
              ? { status: "ERROR", code: "INVALID_MESSAGE", field: "message", error: "bad" }
              : { status: "OK", ticket: String(++ticket) };
            const line = JSON.stringify(reply) + "\n";
            if (s.data.first) { s.data.first = false; for (const ch of line) s.write(ch); } else s.write(line);
          }
        },
      },
    });
    return { port: server.port, open: () => open, stop: () => server.stop(true) };
  }

  test("closed loop: every request answered once, OK latencies recorded, errors counted by code", async () => {
    const srv = ndjsonServer();
    try {
      const r = await closedLoop({ port: srv.port, connections: 4, total: 40, request: (i) => JSON.stringify({ email: "a@b.c", message: i % 10 === 0 ? "bad" : `m${i}` }) + "\n" });
      expect(r.ok).toBe(36);
      expect(r.errors).toEqual({ INVALID_MESSAGE: 4 });
      expect(r.latencies.length).toBe(36);
      expect(r.latencies.every((x) => x >= 0)).toBe(true);
      expect(Number(r.lastTicket) - Number(r.firstTicket)).toBe(35);
    } finally {
      srv.stop();
    }
  });

  test("makeRequest is a valid request line with a distinct text per ticket", () => {
    const a = JSON.parse(makeRequest(1));
    expect(a.email).toMatch(/^user1@bench\.example$/);
    expect(makeRequest(1)).not.toBe(makeRequest(2));
    expect(makeRequest(1).endsWith("\n")).toBe(true);
  });

  test("holdIdle keeps connections open until closed; sendOne times one request", async () => {
    const srv = ndjsonServer();
    try {
      const holder = await holdIdle({ port: srv.port, count: 30, batch: 7 });
      expect(holder.opened).toBe(30);
      await Bun.sleep(50);
      expect(srv.open()).toBe(30);
      const one = await sendOne({ port: srv.port, line: JSON.stringify({ email: "a@b.c", message: "hi" }) + "\n" });
      expect(one.reply.status).toBe("OK");
      expect(one.repliedAt).toBeGreaterThanOrEqual(one.sentAt);
      holder.close();
      await Bun.sleep(100);
      expect(srv.open()).toBe(0);
      expect(holder.closed).toBe(0); // closed by us, not by the server
    } finally {
      srv.stop();
    }
  });
});

test("SMTP sink process: accepts with the configured login, counts and discards", async () => {
  const sink = spawnChild([BUN, "bench/sink.ts"], { env: benchEnv({ SINK_LOGIN: "admin@mailer.test", SINK_PASSWORD: "pw" }) });
  try {
    const { port } = await sink.waitFor("ready", 10_000);
    const nodemailer = require("nodemailer");
    const ok = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, auth: { user: "admin@mailer.test", pass: "pw" } });
    for (let i = 0; i < 3; i++) await ok.sendMail({ from: "admin@mailer.test", to: "x@example.com", subject: `s${i}`, text: "hello" });
    const bad = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, auth: { user: "admin@mailer.test", pass: "wrong" } });
    await expect(bad.sendMail({ from: "admin@mailer.test", to: "x@example.com", subject: "s", text: "x" })).rejects.toThrow();
    await sink.stop();
    const result = sink.messages.find((m) => "result" in m)!.result;
    expect(result.messages).toBe(3);
    expect(result.authFailures).toBe(1);
  } finally {
    await sink.stop();
  }
}, 20_000);
