// Host names and addresses: the one loopback check used by the server banner, the collector's
// plain-text warning and the sandbox's configuration check.
import { isIP } from "node:net";

/** 127.0.0.0/8, ::1 (bracketed or not) and localhost. */
export function isLoopback(host: string): boolean {
  return /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i.test(host);
}

export function isIpHost(host: string): boolean {
  return isIP(host) !== 0;
}
