// TLS options shared by the SMTP sender and the IMAP mailbox. Certificate verification is
// always on; a private CA is trusted by adding it (TLS_CA_FILE), never by turning checks off.
import { readFileSync } from "node:fs";
import { isIpHost } from "./net";
import tls from "node:tls";

export interface TlsOptions {
  rejectUnauthorized: true;
  /** Always a string: Bun's tls.connect throws on the `servername: false` that imapflow passes
   *  for IP hosts (checked with Bun 1.4; docs/providers.md "A company Postfix/Dovecot with a private CA"), and on an IP address as servername (RFC 6066 forbids IP SNI).
   *  For an IP host it is "", and verification then checks the IP against the cert's IP SANs. */
  servername: string;
  ca?: string[];
  minVersion: "TLSv1.2";
}

/** What Bun trusts when no `ca` is given (bundled roots, NODE_EXTRA_CA_CERTS); the bundled roots where that list is unavailable. */
function defaultTrust(): string[] {
  const get = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  try {
    return get?.("default") ?? [...tls.rootCertificates];
  } catch {
    return [...tls.rootCertificates];
  }
}

/**
 * Reads the CA file once; throws an actionable error naming the file when unreadable. The CA is
 * ADDED to the default trust: a `ca` option replaces it (checked in Bun 1.4), which would make a
 * public-CA server (Gmail on SMTP, say) fail as soon as TLS_CA_FILE is set for a company IMAP.
 */
export function loadCa(caFile: string | null): string[] | undefined {
  if (!caFile) return undefined;
  let pem: string;
  try {
    pem = readFileSync(caFile, "utf8");
  } catch (err) {
    throw new Error(`TLS_CA_FILE=${caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? err}) — point it at a PEM file with your private CA certificate`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`TLS_CA_FILE=${caFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----") — export your CA certificate in PEM format`);
  }
  return [pem, ...defaultTrust()];
}

export function tlsOptions(host: string, ca: string[] | undefined): TlsOptions {
  return { rejectUnauthorized: true, servername: isIpHost(host) ? "" : host, minVersion: "TLSv1.2", ...(ca ? { ca } : {}) };
}


/** Recognises certificate-verification failures from Node/Bun TLS error codes and messages. */
export function isCertificateError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const text = `${e?.code ?? ""} ${e?.message ?? ""}`;
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|certificate/i.test(text);
}

export const CERTIFICATE_HINT =
  "if the server uses a private CA, set TLS_CA_FILE to its PEM certificate (verification stays on)";

