// A small Chrome DevTools Protocol client for the browser tests: Debian's chromium, headless,
// driven over the WebSocket Bun already has. Chosen over puppeteer-core because the tests use
// a dozen CDP methods, and this needs no dependency (puppeteer-core brings ~20 packages and
// its own idea of which browser to run). Nothing here downloads a browser.
//
// In CI (CI set) a missing chromium is a failure, not a skip: see `chromiumOrReason`.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** null when chromium can run here; otherwise the one-line reason to skip (or fail in CI). */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `chromium not found at ${CHROMIUM} — apt-get install -y chromium (or set CHROMIUM_PATH)`;
}

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void };
type Listener = (params: any, sessionId?: string) => void;

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();

  private constructor(private readonly proc: Bun.Subprocess, private readonly ws: WebSocket, private readonly profile: string) {
    ws.addEventListener("message", (event) => this.dispatch(JSON.parse(String(event.data))));
  }

  static async launch(): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), "mailer-chromium-"));
    const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"];
    const proc = Bun.spawn([CHROMIUM, ...flags], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const url = await devtoolsUrl(proc.stderr as ReadableStream<Uint8Array>);
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
    return new Browser(proc, ws, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  on(method: string, listener: Listener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  private dispatch(msg: { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string }; sessionId?: string }): void {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message));
      else p?.resolve(msg.result);
      return;
    }
    for (const l of this.listeners.get(msg.method ?? "") ?? []) l(msg.params, msg.sessionId);
  }

  async newPage(width = 1000, height = 720): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await Promise.all(["Page.enable", "Runtime.enable", "Log.enable"].map((m) => this.send(m, {}, sessionId)));
    await page.viewport(width, height);
    return page;
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close"), Bun.sleep(2000)]);
    } catch {}
    this.ws.close();
    this.proc.kill("SIGKILL");
    await this.proc.exited;
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  /** alert/confirm/prompt dialogs opened by the page (an XSS that ran would open one) */
  readonly dialogs: string[] = [];
  /** console messages and browser log entries (CSP violations land here) */
  readonly logs: string[] = [];

  constructor(private readonly browser: Browser, readonly sessionId: string) {
    browser.on("Page.javascriptDialogOpening", (p, s) => {
      if (s !== sessionId) return;
      this.dialogs.push(String(p.message));
      void browser.send("Page.handleJavaScriptDialog", { accept: false }, sessionId);
    });
    browser.on("Runtime.consoleAPICalled", (p, s) => s === sessionId && this.logs.push(p.args.map((a: any) => a.value ?? a.description).join(" ")));
    browser.on("Log.entryAdded", (p, s) => s === sessionId && this.logs.push(String(p.entry.text)));
  }

  private send(method: string, params: Record<string, unknown> = {}) {
    return this.browser.send(method, params, this.sessionId);
  }

  viewport(width: number, height: number, mobile = false) {
    return this.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile });
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = this.next("Page.loadEventFired");
    const { errorText } = await this.send("Page.navigate", { url });
    if (errorText) throw new Error(`navigation to ${url} failed: ${errorText}`);
    await loaded;
  }

  /** Runs `action` (e.g. a click that submits a form) and waits for the next page load. */
  async navigating(action: () => Promise<unknown>): Promise<void> {
    const loaded = this.next("Page.loadEventFired");
    await action();
    await loaded;
  }

  private next(event: string, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.browser.on(event, (_p, s) => {
        if (s !== this.sessionId) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Polls `expression` until it is truthy; returns its value. */
  async waitFor<T = unknown>(expression: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.eval<T>(expression);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for: ${expression}`);
      await Bun.sleep(50);
    }
  }

  /** Focuses the field and types into it as a keyboard would (Input.insertText). */
  async type(selector: string, text: string): Promise<void> {
    await this.eval(`document.querySelector(${JSON.stringify(selector)}).focus()`);
    await this.send("Input.insertText", { text });
  }

  async pressEnter(): Promise<void> {
    for (const type of ["keyDown", "keyUp"]) await this.send("Input.dispatchKeyEvent", { type, key: "Enter", code: "Enter", windowsVirtualKeyCode: 13, ...(type === "keyDown" ? { text: "\r" } : {}) });
  }

  /** A PNG of the whole page (not only the viewport), as bytes. */
  async screenshot(path?: string): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    const bytes = Buffer.from(data, "base64");
    if (path) writeFileSync(path, bytes);
    return bytes;
  }
}

async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + 20_000;
  const reader = stderr.getReader();
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value, { stream: true });
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
    if (match) {
      // keep draining stderr so chromium never blocks on a full pipe
      void (async () => {
        for (;;) if ((await reader.read()).done) return;
      })();
      return match[1]!;
    }
  }
  throw new Error(`chromium did not print its DevTools address; it said:\n${seen.slice(-2000)}`);
}

let skipNoticePrinted = false;

/**
 * Whether the browser tests can run. In CI (CI set and not "false"/"0") a missing chromium
 * throws — the tests must fail there; elsewhere one line is printed and the caller skips.
 */
export function requireChromium(): boolean {
  const missing = chromiumMissing();
  if (!missing) return true;
  const ci = process.env.CI;
  if (ci && ci !== "false" && ci !== "0") throw new Error(`the browser tests are required in CI: ${missing}`);
  if (!skipNoticePrinted) {
    skipNoticePrinted = true;
    console.log(`skipping browser tests: ${missing}`);
  }
  return false;
}
