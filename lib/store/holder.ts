// Who this process is, for leases and claims, and whether a holder on this host is gone: its
// pid no longer runs, is a zombie (killed, not yet reaped — `kill -9` then restart at once), or
// now belongs to another process (a different start time in /proc/PID/stat). A holder on
// another host cannot be checked from here: its lease or claim is taken over only on expiry.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Holder } from "./types";

let self: Holder | null = null;

/** This process, as it appears in leases and claims. */
export function currentHolder(): Holder {
  self ??= { pid: process.pid, host: hostname(), since: new Date().toISOString(), ...startTicksOf(process.pid) };
  return self;
}

/** True only when this host can tell for sure that the holder has ended. */
export function holderGone(h: Holder): boolean {
  if (h.host !== hostname()) return false;
  // our own pid in a holder we did not write: an earlier process that had the same pid
  if (h.pid === process.pid) return h.since !== currentHolder().since;
  const stat = procStat(h.pid);
  if (stat === null) return !alive(h.pid);
  if (stat.state === "Z" || stat.state === "X") return true;
  return h.startTicks !== undefined && stat.startTicks !== h.startTicks;
}

/** Describes a holder for a person: "pid 123 on host box, since 2026-12-01T10:00:00.000Z". */
export function describeHolder(h: Holder): string {
  return `pid ${h.pid} on host ${h.host}, since ${h.since}`;
}

function startTicksOf(pid: number): { startTicks?: number } {
  const stat = procStat(pid);
  return stat ? { startTicks: stat.startTicks } : {};
}

/** State letter and start time from /proc/PID/stat; null when there is no /proc entry. */
function procStat(pid: number): { state: string; startTicks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // "pid (comm) S ppid …": comm may hold spaces and parentheses, so split after the last ")"
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "?", startTicks: Number(fields[19]) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
