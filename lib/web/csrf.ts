// CSRF protection for the form: a random cookie (SameSite=Strict, HttpOnly) and, in the form,
// an HMAC of it under a key this process made at start. A page elsewhere can neither read the
// token nor set the cookie, so it cannot forge a post; the Origin check (lib/web/http.ts)
// stands in front of this as a second, independent wall.
import { createHmac, randomBytes } from "node:crypto";
import { safeEqual } from "./http";

const COOKIE = "mailer_csrf";

export class Csrf {
  private readonly key = randomBytes(32);

  /** The token for this browser's cookie, and the Set-Cookie header when it has none yet. */
  issue(req: Request): { token: string; setCookie: string | null } {
    const existing = cookieOf(req);
    const cookie = existing ?? randomBytes(24).toString("hex");
    const secure = new URL(req.url).protocol === "https:" ? "; Secure" : "";
    return { token: this.tokenFor(cookie), setCookie: existing ? null : `${COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Strict${secure}` };
  }

  /** Whether the form's token belongs to the cookie the browser sent with it. */
  check(req: Request, token: unknown): boolean {
    const cookie = cookieOf(req);
    return cookie !== null && typeof token === "string" && safeEqual(token, this.tokenFor(cookie));
  }

  private tokenFor(cookie: string): string {
    return createHmac("sha256", this.key).update(cookie).digest("hex");
  }
}

function cookieOf(req: Request): string | null {
  const header = req.headers.get("cookie") ?? "";
  for (const part of header.split(";")) {
    const [name, value] = part.trim().split("=", 2);
    if (name === COOKIE && value && /^[0-9a-f]{48}$/.test(value)) return value;
  }
  return null;
}
