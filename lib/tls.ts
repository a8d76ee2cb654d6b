// TLS options shared by the SMTP sender and the IMAP mailbox. Certificate verification is
// always on; a private CA is trusted by adding it (TLS_CA_FILE), never by turning checks off.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";

export interface TlsOptions {
  rejectUnauthorized: true;
  /** Always a string: Bun's tls.connect throws on the `servername: false` that imapflow passes
   *  for IP hosts (NOTES.md), and on an IP address as servername (RFC 6066 forbids IP SNI).
   *  For an IP host it is "", and verification then checks the IP against the cert's IP SANs. */
  servername: string;
  ca?: string[];
  minVersion: "TLSv1.2";
}

/** Reads the CA file once; throws an actionable error naming the file when unreadable. */
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
  return [pem];
}

export function tlsOptions(host: string, ca: string[] | undefined): TlsOptions {
  return { rejectUnauthorized: true, servername: isIpHost(host) ? "" : host, minVersion: "TLSv1.2", ...(ca ? { ca } : {}) };
}

export function isIpHost(host: string): boolean {
  return isIP(host) !== 0;
}

/** Recognises certificate-verification failures from Node/Bun TLS error codes and messages. */
export function isCertificateError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const text = `${e?.code ?? ""} ${e?.message ?? ""}`;
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|certificate/i.test(text);
}

export const CERTIFICATE_HINT =
  "if the server uses a private CA, set TLS_CA_FILE to its PEM certificate (verification stays on)";
