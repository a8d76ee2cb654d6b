// A trusted web front end (lib/web) tells the server which browser address a form request
// came from, so the per-client rate limit binds each person instead of the web host as a
// whole. The claim is believed only when it carries an HMAC made with WEB_FRONTEND_SECRET,
// which the web process and the server share; anyone else who sends "via" is just a client.
//   → {"email":"…","message":"…","via":{"client":"203.0.113.7","time":1764583200,"token":"<hex>"}}
import { createHmac, timingSafeEqual } from "node:crypto";

export interface Via {
  /** the browser's IP address as the web process saw it */
  client: string;
  /** unix seconds when the web process signed it */
  time: number;
  /** hex HMAC-SHA256 over client, time, email and message */
  token: string;
}

/** How far the web host's and the server's clocks may differ, and how long a token lives. */
export const VIA_MAX_AGE_SEC = 300;

function mac(secret: string, client: string, time: number, email: string, message: string): Buffer {
  // Bound to the request's content: a token seen once cannot carry another message.
  return createHmac("sha256", secret).update(JSON.stringify(["mailer-via-1", client, time, email, message])).digest();
}

export function signVia(secret: string, client: string, email: string, message: string, now = Date.now()): Via {
  const time = Math.floor(now / 1000);
  return { client, time, token: mac(secret, client, time, email, message).toString("hex") };
}

export type ViaCheck = { ok: true; client: string } | { ok: false; error: string };

/** Whether `via` (any JSON value from the request) is a valid claim for this email + message. */
export function verifyVia(secret: string, via: unknown, email: string, message: string, now = Date.now()): ViaCheck {
  const v = via as Partial<Via> | null;
  if (typeof v !== "object" || v === null || typeof v.client !== "string" || typeof v.time !== "number" || typeof v.token !== "string") {
    return { ok: false, error: '"via" must be {"client": "<ip>", "time": <unix seconds>, "token": "<hex>"}' };
  }
  if (v.client.length > 64 || !/^[0-9a-fA-F:.]+$/.test(v.client)) return { ok: false, error: '"via".client is not an IP address' };
  if (Math.abs(now / 1000 - v.time) > VIA_MAX_AGE_SEC) {
    return { ok: false, error: `"via" is older than ${VIA_MAX_AGE_SEC} s or from the future — are the web host's and the server's clocks right?` };
  }
  const expected = mac(secret, v.client, v.time, email, message);
  const given = /^[0-9a-f]{64}$/.test(v.token) ? Buffer.from(v.token, "hex") : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, error: '"via" does not verify — the web process and the server must share the same WEB_FRONTEND_SECRET' };
  }
  return { ok: true, client: v.client };
}

/**
 * The address a request's rate limit counts against: the peer's, or — only when the server
 * has a secret and the request carries a valid `via` — the browser's behind the web front end.
 * A server without a secret ignores `via` (like any unknown field).
 */
export function requestClient(request: { email: string; message: string; via?: unknown }, peerIp: string, secret: string | null): ViaCheck {
  if (request.via === undefined || secret === null) return { ok: true, client: peerIp };
  return verifyVia(secret, request.via, request.email, request.message);
}
