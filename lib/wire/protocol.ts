// The wire protocol between client.ts and server.ts: newline-delimited JSON, one request per
// line, exactly one reply line per request, in order (docs/protocol.md "Wire protocol").

export const ERROR_CODES = [
  "INVALID_EMAIL",
  "INVALID_MESSAGE",
  "BAD_REQUEST",
  "TOO_LARGE",
  "RATE_LIMITED",
  "MAIL_FAILED",
  "INTERNAL",
  // Sent once to a connection over MAX_CONNECTIONS, which is then closed.
  "BUSY",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface TicketRequest {
  email: string;
  message: string;
  /** from a trusted web front end only: the browser's address, signed (lib/wire/via.ts) */
  via?: unknown;
}

export type OkReply = { status: "OK"; ticket: string };
export type ErrorReply = {
  status: "ERROR";
  code: ErrorCode;
  /** which request field the error is about, when it is about one */
  field?: "email" | "message";
  error: string;
  /** RATE_LIMITED only: seconds until a new request can be accepted */
  retryAfter?: number;
};
export type Reply = OkReply | ErrorReply;

export function errorReply(code: ErrorCode, error: string, extra: { field?: "email" | "message"; retryAfter?: number } = {}): ErrorReply {
  return { status: "ERROR", code, ...(extra.field ? { field: extra.field } : {}), error, ...(extra.retryAfter !== undefined ? { retryAfter: extra.retryAfter } : {}) };
}

export function encodeReply(reply: Reply): string {
  return JSON.stringify(reply) + "\n";
}

export function encodeRequest(request: TicketRequest): string {
  // JSON.stringify escapes "\n" inside strings, so a request is always exactly one line.
  return JSON.stringify({ email: request.email, message: request.message, ...(request.via !== undefined ? { via: request.via } : {}) }) + "\n";
}

export type ParsedRequest = { ok: true; request: TicketRequest } | { ok: false; reply: ErrorReply };

const SHAPE_HINT = 'send one JSON object per line: {"email":"you@example.com","message":"your text"}';

/** Parses one request line (already known to be valid UTF-8 and within the size limit). */
export function parseRequest(line: string): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reply: errorReply("BAD_REQUEST", `the request is not valid JSON — ${SHAPE_HINT}`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reply: errorReply("BAD_REQUEST", `the request is not a JSON object — ${SHAPE_HINT}`) };
  }
  const obj = value as Record<string, unknown>;
  // Other fields are ignored, so a newer client can add some without breaking older servers.
  for (const field of ["email", "message"] as const) {
    if (!(field in obj)) return { ok: false, reply: errorReply("BAD_REQUEST", `the request has no "${field}" field — ${SHAPE_HINT}`, { field }) };
    if (typeof obj[field] !== "string") {
      return { ok: false, reply: errorReply("BAD_REQUEST", `"${field}" must be a JSON string, got ${obj[field] === null ? "null" : typeof obj[field]}`, { field }) };
    }
  }
  return { ok: true, request: { email: obj.email as string, message: obj.message as string, ...("via" in obj ? { via: obj.via } : {}) } };
}

/** Parses a reply line on the client side; null when it is not a well-formed reply. */
export function parseReply(line: string): Reply | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.status === "OK" && typeof v.ticket === "string") return { status: "OK", ticket: v.ticket };
  if (v.status === "ERROR" && typeof v.code === "string" && typeof v.error === "string") {
    return {
      status: "ERROR",
      code: v.code as ErrorCode,
      error: v.error,
      ...(v.field === "email" || v.field === "message" ? { field: v.field } : {}),
      ...(typeof v.retryAfter === "number" ? { retryAfter: v.retryAfter } : {}),
    };
  }
  return null;
}
