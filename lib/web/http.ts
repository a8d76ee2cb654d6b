// What every page of the web inbox, the dashboard and the form share: strict headers, the
// guards in front of every request (Host, Basic auth, Origin), server-sent events and the
// static files. No framework: Bun.serve hands us a Request, we hand back a Response.
import { createHash, timingSafeEqual } from "node:crypto";
import { isLoopback } from "../shared/net";
// the static files imported as files (paths), so that `bun build --compile` puts them inside the
// mailer-web binary, where lib/web/static/ does not exist; outside a binary the real paths.
// @ts-expect-error -- a browser script, not a module of this program: only its path is imported
import appJs from "./static/app.js" with { type: "file" };
// @ts-expect-error -- a stylesheet has no type declarations: only its path is imported
import styleCss from "./static/style.css" with { type: "file" };

/** No inline script or style anywhere: scripts and styles are files from this origin. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const COMMON_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  // not "no-referrer": with it, a browser sends `Origin: null` on the form's post
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

export function respond(body: ConstructorParameters<typeof Response>[0], status: number, type: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...COMMON_HEADERS, "Content-Security-Policy": CSP, "Content-Type": type, ...extra } });
}

export const htmlResponse = (body: string, status = 200, extra: Record<string, string> = {}) => respond(body, status, "text/html; charset=utf-8", extra);
export const jsonResponse = (value: unknown, status = 200) => respond(JSON.stringify(value), status, "application/json; charset=utf-8");
export const textResponse = (text: string, status: number) => respond(text, status, "text/plain; charset=utf-8");

/**
 * Host names a loopback-bound server answers to. Anything else is DNS rebinding: a web page
 * whose name resolves to 127.0.0.1 would otherwise read the inbox or post the form.
 */
export function hostAllowed(hostHeader: string | null, boundHost: string, port: number): boolean {
  if (!isLoopback(boundHost)) return true; // exposed: the password is what protects it
  if (!hostHeader) return false;
  const allowed = ["127.0.0.1", "localhost", "[::1]", boundHost.includes(":") && !boundHost.startsWith("[") ? `[${boundHost}]` : boundHost];
  return allowed.some((h) => hostHeader.toLowerCase() === `${h}:${port}`);
}

/** A state-changing request must come from a page of this very origin (CSRF, rebinding). */
export function sameOrigin(req: Request): boolean {
  const origin = req.headers.get("origin");
  const host = req.headers.get("host");
  if (!origin || !host) return false;
  const scheme = new URL(req.url).protocol;
  return origin === `${scheme}//${host}`;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Constant-time string comparison (equal-length digests, so the length leaks nothing either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** HTTP Basic: any user name, the password compared in constant time. */
export function basicAuthOk(req: Request, password: string): boolean {
  const header = req.headers.get("authorization") ?? "";
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 && safeEqual(decoded.slice(colon + 1), password);
}

export function unauthorized(): Response {
  return respond("This Mailer page needs the password (WEB_PASSWORD).", 401, "text/plain; charset=utf-8", { "WWW-Authenticate": 'Basic realm="Mailer", charset="UTF-8"' });
}

/** Server-sent events to every open page; a slow or gone page is dropped, never waited for. */
export class EventHub {
  private readonly clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private readonly encoder = new TextEncoder();
  private timer: ReturnType<typeof setInterval> | null = null;

  get size(): number {
    return this.clients.size;
  }

  /** The response for GET /events. A comment every 15 s keeps proxies from closing it. */
  open(req: Request): Response {
    let self: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.clients.add(controller);
        controller.enqueue(this.encoder.encode(": connected\n\n"));
        this.timer ??= setInterval(() => this.sendRaw(": keep-alive\n\n"), 15_000);
      },
      cancel: () => void this.clients.delete(self),
    });
    req.signal.addEventListener("abort", () => this.clients.delete(self));
    return respond(stream, 200, "text/event-stream; charset=utf-8", { Connection: "keep-alive" });
  }

  send(event: string, data: unknown): void {
    this.sendRaw(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private sendRaw(text: string): void {
    const bytes = this.encoder.encode(text);
    for (const c of this.clients) {
      try {
        if ((c.desiredSize ?? 0) < -1_000_000) throw new Error("slow reader");
        c.enqueue(bytes);
      } catch {
        this.clients.delete(c);
        try {
          c.close();
        } catch {}
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.clients) {
      try {
        c.close();
      } catch {}
    }
    this.clients.clear();
  }
}


const STATIC_FILES: Record<string, string> = { "app.js": appJs as string, "style.css": styleCss as string };
const STATIC_TYPES: Record<string, string> = { css: "text/css; charset=utf-8", js: "text/javascript; charset=utf-8" };

/** /static/<name>.css|js from lib/web/static; nothing else, no directory walking. */
export async function staticFile(pathname: string): Promise<Response | null> {
  if (pathname === "/favicon.ico") return new Response(null, { status: 204 });
  const match = /^\/static\/([a-z0-9-]+)\.(css|js)$/.exec(pathname);
  if (!match) return null;
  const path = STATIC_FILES[`${match[1]}.${match[2]}`];
  if (!path) return null;
  const file = Bun.file(path);
  if (!(await file.exists())) return null;
  return respond(file, 200, STATIC_TYPES[match[2]!]!, { "Cache-Control": "no-cache" });
}
