import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import tls from "node:tls";
import { isCertificateError, loadCa, tlsOptions } from "../../lib/shared/tls";
import { tempDir } from "../helpers/env";

const FIX = `${import.meta.dir}/../fixtures/tls`;
let server: tls.Server;
let port = 0;

beforeAll(async () => {
  server = tls.createServer({ key: readFileSync(`${FIX}/server.key`), cert: readFileSync(`${FIX}/server.pem`) }, (s) => s.end("hi\n"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => server.close());

function handshake(host: string, ca: string[] | undefined, override: Partial<tls.ConnectionOptions> = {}) {
  return new Promise<{ ok: true } | { ok: false; err: Error }>((resolve) => {
    const s = tls.connect({ host: "127.0.0.1", port, ...tlsOptions(host, ca), ...override }, () => {
      s.destroy();
      resolve({ ok: true });
    });
    s.on("error", (err) => resolve({ ok: false, err }));
  });
}

describe("TLS options", () => {
  test("an IP host verifies against the certificate's IP SAN (Bun refuses IP or false servername)", async () => {
    expect(tlsOptions("127.0.0.1", undefined).servername).toBe("");
    expect(await handshake("127.0.0.1", loadCa(`${FIX}/ca.pem`))).toEqual({ ok: true });
  });

  test("a host name is sent as SNI and verified", async () => {
    expect(tlsOptions("localhost", undefined).servername).toBe("localhost");
    expect(await handshake("localhost", loadCa(`${FIX}/ca.pem`))).toEqual({ ok: true });
  });

  test("a certificate from another CA is refused and recognised as a certificate problem", async () => {
    const r = await handshake("127.0.0.1", loadCa(`${FIX}/other-ca.pem`));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(isCertificateError(r.err)).toBe(true);
  });

  test("without the private CA the certificate is refused (verification is on)", async () => {
    const r = await handshake("127.0.0.1", undefined);
    expect(r.ok).toBe(false);
  });

  test("a wrong host name is refused", async () => {
    const r = await handshake("mail.example.org", loadCa(`${FIX}/ca.pem`));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(isCertificateError(r.err)).toBe(true);
  });

  test("an unreadable or non-PEM CA file is reported by name", () => {
    expect(() => loadCa("/nonexistent/ca.pem")).toThrow(/TLS_CA_FILE=\/nonexistent\/ca.pem cannot be read \(ENOENT\)/);
    const dir = tempDir();
    writeFileSync(`${dir.path}/x.pem`, "not a cert");
    expect(() => loadCa(`${dir.path}/x.pem`)).toThrow(/holds no PEM certificate/);
    dir.cleanup();
    expect(loadCa(null)).toBeUndefined();
  });

  test("TLS_CA_FILE adds to the default trust instead of replacing it (a public-CA server keeps working)", () => {
    const ca = loadCa(`${FIX}/ca.pem`)!;
    expect(ca[0]).toBe(readFileSync(`${FIX}/ca.pem`, "utf8"));
    expect(ca.length).toBeGreaterThan(50);
    expect(ca).toContain(tls.rootCertificates[0]!);
  });
});
