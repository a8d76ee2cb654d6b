// One collector writes a LOG_DIR. Two guards, because two collectors can share a LOG_DIR in two
// ways: on one store, the store's lease (one holder per LOG_DIR, named when refused, taken over
// at once when its process is gone from this host, otherwise after its expiry); on two stores
// (different STATE_DIRs), a marker file LOG_DIR/.mailer-store naming the store the logs belong
// to — created whole or not at all (a temp file hard-linked into place), never through a symlink.
import { closeSync, fsyncSync, linkSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { MailerError, messageOf } from "../shared/errors";
import { createExclusive, ensurePrivateDir, openReadNoFollow } from "../shared/safe-fs";
import { currentHolder, describeHolder, holderGone } from "../store/holder";
import { collectorLeaseName } from "../store/keys";
import type { Store } from "../store/types";

const MARKER_FILE = ".mailer-store";
export const LEASE_TTL_MS = 30_000;
/** stop writing this long before the lease would expire */
const LEASE_MARGIN_MS = 5_000;

export interface LogDirOwnership {
  lease: { name: string; token: number };
  /** Throws unless the lease is surely still ours (renewed, not expired): checked before every
   *  append, so a collector that was frozen past its lease's expiry never writes again. */
  assertHeld(): void;
  release(): Promise<void>;
}

/** Takes LOG_DIR for this collector, or throws MailerError "state" naming who has it. */
export async function takeLogDir(store: Store, logDir: string, stateDir: string): Promise<LogDirOwnership> {
  ensurePrivateDir(logDir, "LOG_DIR");
  claimMarker(store.id, logDir, stateDir);
  const name = collectorLeaseName(logDir);
  const started = Date.now();
  const taken = await store.leases.take(name, currentHolder(), LEASE_TTL_MS, holderGone);
  if (!taken.ok) {
    throw new MailerError(
      "state",
      `another Mailer collector is already writing LOG_DIR=${logDir} (${describeHolder(taken.holder)}) — stop it first: two would log every message twice (its lease expires at ${taken.expiresAt} unless it renews it)`,
    );
  }
  return holdLease(store, taken.lease.token, name, started, `LOG_DIR=${logDir}`);
}

/** The hold on a lease just taken (at `started`): renewed in the background; `assertHeld`
 *  throws once it is lost or could not be renewed in time. Also used for the mailbox lease of
 *  collectors sharing PostgreSQL (shared-mailbox.ts). */
export function holdLease(store: Store, token: number, name: string, started: number, what: string): LogDirOwnership {
  // measured from before the request: the store's clock may count the lease from later, never earlier
  let heldUntil = started + LEASE_TTL_MS;
  let lost = false;
  const timer = setInterval(() => {
    const asked = Date.now();
    store.leases.renew(name, token, LEASE_TTL_MS).then(
      (ok) => (ok ? (heldUntil = asked + LEASE_TTL_MS) : (lost = true)),
      () => {}, // retried at the next tick; the lease runs out meanwhile if the store stays unwritable
    );
  }, LEASE_TTL_MS / 3);
  timer.unref?.();
  return {
    lease: { name, token },
    assertHeld: () => {
      if (lost || Date.now() >= heldUntil - LEASE_MARGIN_MS) {
        throw new MailerError("local", `the collector's lease on ${what} ${lost ? "was taken over by another collector" : "could not be renewed in time"}; stopping so that two collectors never write the logs at once`);
      }
    },
    release: async () => {
      clearInterval(timer);
      await store.leases.release(name, token).catch(() => {}); // it expires on its own
    },
  };
}

interface Marker {
  store: string;
  stateDir: string;
  since: string;
}

export function claimMarker(storeId: string, logDir: string, stateDir: string): void {
  const path = join(logDir, MARKER_FILE);
  const mine: Marker = { store: storeId, stateDir: resolve(stateDir), since: new Date().toISOString() };
  if (placeMarker(path, mine)) return;
  const theirs = readMarker(path);
  if (theirs?.store === storeId) return;
  const owner = theirs ? `the store in STATE_DIR=${theirs.stateDir}` : "another store (the marker is unreadable)";
  throw new MailerError(
    "state",
    `LOG_DIR=${logDir} belongs to the collector of ${owner}, see ${path}: two stores writing one log would log every message twice — ` +
      `use that STATE_DIR with this LOG_DIR, or another LOG_DIR; delete ${path} only if that store is gone for good`,
  );
}

/** Creates the marker whole (temp file, fsync, hard link: fails if one exists); false if one exists. */
function placeMarker(path: string, m: Marker): boolean {
  const tmp = `${path}.${process.pid}.${crypto.randomUUID()}`;
  const fd = createExclusive(tmp);
  try {
    writeSync(fd, JSON.stringify(m) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new MailerError("state", `cannot create ${path}: ${messageOf(err)} — check that LOG_DIR is writable`);
  } finally {
    unlinkSync(tmp);
  }
}

function readMarker(path: string): Marker | null {
  try {
    const fd = openReadNoFollow(path);
    try {
      const m = JSON.parse(readFileSync(fd, "utf8")) as Marker;
      return typeof m.store === "string" && typeof m.stateDir === "string" ? m : null;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof MailerError) throw err; // a symlink planted in place of the marker
    return null;
  }
}
