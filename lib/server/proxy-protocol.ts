// The PROXY protocol, version 2 (haproxy's send-proxy-v2; spec: haproxy doc/proxy-protocol.txt):
// a binary header a load balancer puts before the client's bytes, carrying the client's real
// address. Parsed incrementally (TCP delivers it in any pieces), bounded (at most 16 + 65535
// bytes, and we accept far less), never buffering past the header: what follows it is the
// client's first request bytes, handed back untouched.
//
// With PROXY_PROTOCOL=on a connection must start with a valid header; with it off, a connection
// that starts with one (v2's signature, or v1's "PROXY ") is refused — a load balancer sending
// headers to a server that does not expect them would otherwise make every client look like it
// came from the balancer, or fail with puzzling BAD_REQUESTs.

/** The 12-byte signature every v2 header starts with. */
export const V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** TLVs (e.g. haproxy's unique id) may follow the addresses; anything longer is not a header of ours */
const MAX_LENGTH = 2048;

export type ProxySource = { ip: string; port: number } | null;

export type ProxyResult =
  /** the header is not complete yet: give more bytes */
  | { kind: "more" }
  /** `source` is the client (null: a LOCAL header, e.g. the balancer's own health check — use
   *  the connection's address); `rest` are the bytes after the header */
  | { kind: "done"; source: ProxySource; rest: Uint8Array }
  | { kind: "refused"; reason: string };

/** Reads one v2 header from the start of a connection. */
export class ProxyHeaderParser {
  private buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): ProxyResult {
    this.buf = concat(this.buf, chunk);
    const b = this.buf;
    const sig = Math.min(b.length, V2_SIGNATURE.length);
    for (let i = 0; i < sig; i++) {
      if (b[i] !== V2_SIGNATURE[i]) return { kind: "refused", reason: startsWith(b, V1_PREFIX) || isPrefix(b, V1_PREFIX) ? "a PROXY protocol v1 header (only v2 is accepted: send-proxy-v2)" : "no PROXY protocol v2 header" };
    }
    if (b.length < 16) return { kind: "more" };
    const version = b[12]! >> 4;
    const command = b[12]! & 0x0f;
    if (version !== 2) return { kind: "refused", reason: `PROXY protocol version ${version} (only 2 is accepted)` };
    if (command > 1) return { kind: "refused", reason: `an unknown PROXY command ${command}` };
    const length = (b[14]! << 8) | b[15]!;
    if (length > MAX_LENGTH) return { kind: "refused", reason: `a PROXY header of ${length} bytes (at most ${MAX_LENGTH})` };
    if (b.length < 16 + length) return { kind: "more" };
    const rest = b.slice(16 + length);
    if (command === 0) return { kind: "done", source: null, rest }; // LOCAL: the balancer itself
    const source = address(b[13]!, b.subarray(16, 16 + length));
    if (source === "bad") return { kind: "refused", reason: "a PROXY header whose addresses are cut short" };
    return { kind: "done", source, rest };
  }
}

/** The source address of a PROXY command: TCP/UDP over IPv4 or IPv6; other families (unix,
 *  unspecified) carry nothing we can use, so the connection's own address stands. */
function address(familyProto: number, body: Uint8Array): ProxySource | "bad" {
  const family = familyProto >> 4;
  if (family === 1) {
    if (body.length < 12) return "bad";
    return { ip: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`, port: (body[8]! << 8) | body[9]! };
  }
  if (family === 2) {
    if (body.length < 36) return "bad";
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((body[i]! << 8) | body[i + 1]!).toString(16));
    return { ip: compressV6(groups), port: (body[32]! << 8) | body[33]! };
  }
  return null;
}

/** RFC 5952 form, and an IPv4-mapped address as the IPv4 address it is. */
function compressV6(groups: string[]): string {
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
    const [hi, lo] = [parseInt(groups[6]!, 16), parseInt(groups[7]!, 16)];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.len).join(":")}`;
}

/** With PROXY_PROTOCOL off: holds the first bytes while they could still be a PROXY header, to
 *  refuse one; anything else goes on as it came. */
export class ProxyHeaderSniffer {
  private buf: Uint8Array = new Uint8Array(0);

  /** what was held so far */
  get held(): Uint8Array {
    return this.buf;
  }

  push(chunk: Uint8Array): { kind: "more" } | { kind: "pass"; bytes: Uint8Array } | { kind: "refused"; reason: string } {
    this.buf = concat(this.buf, chunk);
    const b = this.buf;
    if (startsWith(b, V2_SIGNATURE)) return { kind: "refused", reason: "a PROXY protocol v2 header" };
    if (startsWith(b, V1_PREFIX)) return { kind: "refused", reason: "a PROXY protocol v1 header" };
    if (isPrefix(b, V2_SIGNATURE) || isPrefix(b, V1_PREFIX)) return { kind: "more" };
    return { kind: "pass", bytes: b };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function startsWith(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

/** b is a proper beginning of p (more bytes could complete it). */
function isPrefix(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length >= p.length) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

/** A v2 header (PROXY command, TCP over IPv4), for tests and tools. */
export function encodeProxyV2(src: { ip: string; port: number }, dst: { ip: string; port: number }): Uint8Array {
  const out = new Uint8Array(16 + 12);
  out.set(V2_SIGNATURE);
  out[12] = 0x21;
  out[13] = 0x11;
  out[15] = 12;
  out.set(src.ip.split(".").map(Number), 16);
  out.set(dst.ip.split(".").map(Number), 20);
  out[24] = src.port >> 8;
  out[25] = src.port & 255;
  out[26] = dst.port >> 8;
  out[27] = dst.port & 255;
  return out;
}

export type FrontResult = { kind: "more" } | { kind: "pass"; bytes: Uint8Array; source: ProxySource } | { kind: "refused"; reason: string };

/** The start of a connection under PROXY_PROTOCOL=on (a header required) or off (a header refused). */
export class ProxyFront {
  private readonly parser: ProxyHeaderParser | null;
  private readonly sniffer: ProxyHeaderSniffer | null;

  constructor(readonly required: boolean) {
    this.parser = required ? new ProxyHeaderParser() : null;
    this.sniffer = required ? null : new ProxyHeaderSniffer();
  }

  push(chunk: Uint8Array): FrontResult {
    if (this.parser) {
      const r = this.parser.push(chunk);
      return r.kind === "done" ? { kind: "pass", bytes: r.rest, source: r.source } : r;
    }
    const r = this.sniffer!.push(chunk);
    return r.kind === "pass" ? { kind: "pass", bytes: r.bytes, source: null } : r;
  }

  /** The connection ended before the start was decided: what the client sent, if it may pass. */
  leftover(): Uint8Array {
    return this.sniffer?.held ?? new Uint8Array(0);
  }
}
