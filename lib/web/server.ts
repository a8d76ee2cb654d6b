// `bun run web`: the tickets dashboard (read-only view of LOG_DIR) and the web form, served by
// Bun.serve. Every request passes the same guards: the Host check (DNS rebinding) when bound
// to loopback, HTTP Basic when WEB_PASSWORD is set, Origin + CSRF token on the form's post.
import { join } from "node:path";
import type { Config } from "../shared/config";
import { Csrf } from "./csrf";
import { formPage, submitTicket, type FormDeps, type FormState } from "./form";
import { basicAuthOk, EventHub, hostAllowed, htmlResponse, sameOrigin, staticFile, textResponse, unauthorized } from "./http";
import { LogFile, type Entry, type Filter } from "./log-file";
import { dashboardPage, errorsPage, threadPage, viewOf } from "./views";

export const PAGE_SIZE = 50;
/** Bytes one search request reads before it answers with a "search further back" link. */
export const SEARCH_BUDGET = 16 * 1024 * 1024;

export interface WebOptions {
  /** how often the logs are checked for new entries (ms) */
  pollMs?: number;
  /** reply timeout for the form's ticket request (ms) */
  timeoutMs?: number;
}

export interface WebServer {
  port: number;
  url: string;
  success: LogFile;
  errors: LogFile;
  stop(): Promise<void>;
}

interface Ctx {
  success: LogFile;
  errors: LogFile;
  hub: EventHub;
  csrf: Csrf;
  form: FormDeps;
  clientIp(req: Request): string;
}

export function startWebServer(config: Config, opts: WebOptions = {}): WebServer {
  const success = new LogFile(join(config.logDir, "success_request.log"));
  const errors = new LogFile(join(config.logDir, "error_request.log"));
  const hub = new EventHub();
  success.onEntry((e) => hub.send("ticket", viewOf(e)));
  errors.onEntry((e) => hub.send("error", viewOf(e)));
  const form: FormDeps = { serverHost: config.serverHost, serverPort: config.serverPort, maxMessageChars: config.maxMessageChars, frontendSecret: config.webFrontendSecret, timeoutMs: opts.timeoutMs };
  const server = Bun.serve({
    hostname: config.webHost,
    port: config.webPort,
    idleTimeout: 0, // event streams stay open; the form waits for the mail server
    // Worst case of a url-encoded message: 4 UTF-8 bytes a character, 3 characters a byte.
    maxRequestBodySize: config.maxMessageChars * 12 + 16_384,
    fetch: (req, srv) => {
      if (!hostAllowed(req.headers.get("host"), config.webHost, srv.port!)) return textResponse("unknown host name", 421);
      if (config.webPassword !== null && !basicAuthOk(req, config.webPassword)) return unauthorized();
      return route(req, ctx);
    },
  });
  const ctx: Ctx = { success, errors, hub, csrf: new Csrf(), form, clientIp: (req) => server.requestIP(req)?.address ?? "" };
  const poll = () => void Promise.all([success.poll(), errors.poll()]).catch(() => {}); // a vanished file reads as empty
  poll();
  const timer = setInterval(poll, opts.pollMs ?? 500);
  const host = config.webHost.includes(":") ? `[${config.webHost}]` : config.webHost;
  return {
    port: server.port!,
    url: `http://${host}:${server.port}/`,
    success,
    errors,
    async stop() {
      clearInterval(timer);
      hub.close();
      await server.stop(true);
    },
  };
}

async function route(req: Request, ctx: Ctx): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname;
  if (path === "/new" && req.method === "POST") return postForm(req, ctx);
  if (req.method !== "GET" && req.method !== "HEAD") return textResponse("method not allowed", 405);
  const before = cursor(url.searchParams.get("before"));
  if (path === "/") return htmlResponse(await listPage(ctx, (url.searchParams.get("q") ?? "").trim().slice(0, 200), before));
  const ticket = /^\/tickets\/(\d{1,15})$/.exec(path);
  if (ticket) return htmlResponse(threadPage(ticket[1]!, await ctx.success.ticket(ticket[1]!)));
  if (path === "/errors") {
    const page = ctx.errors.page(PAGE_SIZE, before);
    return htmlResponse(errorsPage(page.entries, page.older));
  }
  if (path === "/new") return formResponse(req, ctx, { email: "", message: "", errors: {} }, 200);
  if (path === "/events") return ctx.hub.open(req);
  return (await staticFile(path)) ?? textResponse("not found", 404);
}

function cursor(value: string | null): number | null {
  return value !== null && /^\d{1,15}$/.test(value) ? Number(value) : null;
}

async function listPage(ctx: Ctx, query: string, before: number | null): Promise<string> {
  if (ctx.success.ready) await ctx.success.poll(); // the count and chart as fresh as the rows (never waits for the first build)
  const base = { query, before, perDay: ctx.success.perDay, indexReady: ctx.success.ready, total: ctx.success.count };
  const number = /^#?(\d{1,15})$/.exec(query);
  if (number) {
    // A ticket number: the index finds its entries without reading the whole log.
    const entries = (await ctx.success.ticket(number[1]!)).reverse();
    return dashboardPage({ ...base, entries, older: null, partial: false });
  }
  const filter = query ? searchFilter(query) : undefined;
  const page = ctx.success.page(PAGE_SIZE, before, filter, query ? SEARCH_BUDGET : Infinity);
  return dashboardPage({ ...base, ...page, partial: !!query && page.entries.length < PAGE_SIZE });
}

/** Case-insensitive match on ticket, addresses, subject and text. */
export function searchFilter(query: string): Filter {
  const q = query.toLowerCase();
  // How the query looks inside a JSON line (quotes, backslashes, controls escaped).
  // A case-insensitive regex, not toLowerCase(): no copy of every line read (memory on big logs).
  const inJson = new RegExp(JSON.stringify(q).slice(1, -1).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
  const fields = ["ticket", "from", "replyTo", "subject", "text"];
  return {
    line: (line) => inJson.test(line),
    entry: (e: Entry) => fields.some((f) => typeof e[f] === "string" && (e[f] as string).toLowerCase().includes(q)),
  };
}

function formResponse(req: Request, ctx: Ctx, state: Omit<FormState, "csrf">, status: number): Response {
  const { token, setCookie } = ctx.csrf.issue(req);
  return htmlResponse(formPage({ ...state, csrf: token }, ctx.form.maxMessageChars), status, setCookie ? { "Set-Cookie": setCookie } : {});
}

async function postForm(req: Request, ctx: Ctx): Promise<Response> {
  if (!sameOrigin(req)) return textResponse("refused: the form accepts posts only from its own page (the Origin header does not match)", 403);
  let data: Awaited<ReturnType<Request["formData"]>>;
  try {
    data = await req.formData();
  } catch {
    return textResponse("the form data could not be read", 400);
  }
  const email = String(data.get("email") ?? "");
  const message = String(data.get("message") ?? "");
  if (!ctx.csrf.check(req, data.get("csrf"))) {
    return formResponse(req, ctx, { email, message, errors: { form: "This form had expired (or cookies are off), so nothing was sent — please press Send again." } }, 403);
  }
  const outcome = await submitTicket(ctx.form, email, message, ctx.clientIp(req));
  return formResponse(req, ctx, outcome.state, outcome.status);
}
