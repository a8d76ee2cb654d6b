// The files Mailer still writes itself (the collector's logs, the store's database, markers)
// live in directories only we can write, and are opened without following symlinks — as
// Postfix refuses unsafe queue files. Otherwise a user who can write STATE_DIR or LOG_DIR could
// plant a symlink and have Mailer append mail text to, or overwrite, a file of their choosing.
// New directories are created 0700, new files 0600.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, statSync } from "node:fs";
import { MailerError } from "./errors";

const { O_NOFOLLOW, O_APPEND, O_CREAT, O_WRONLY, O_EXCL, O_RDONLY } = constants;

/** Creates DIR (and missing parents) 0700, then refuses it when other users can write it. */
export function ensurePrivateDir(dir: string, key: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // not unsafe, only unusable (a file in the way, no permission): the machine's problem, exit 1
    throw new MailerError("local", `cannot create ${key}=${dir}: ${(err as Error).message} — check that ${key} is a writable directory, or choose another`);
  }
  checkDirSafe(dir, key);
}

/** A directory other users can write (group/other write bit), or that someone else owns, is refused. */
function checkDirSafe(dir: string, key: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new MailerError("state", `cannot use ${key}=${dir}: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new MailerError("state", `${key}=${dir} is not a directory — point ${key} at a directory`);
  const uid = process.getuid?.() ?? st.uid;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
  if ((st.mode & 0o022) !== 0) {
    throw new MailerError(
      "state",
      `${key}=${dir} can be written by other users (mode ${mode}): they could plant symlinks or files there — run \`chmod go-w ${dir}\`, or choose a directory only you can write`,
    );
  }
  if (st.uid !== uid && st.uid !== 0) {
    throw new MailerError("state", `${key}=${dir} belongs to another user (uid ${st.uid}; Mailer runs as uid ${uid}) — use a directory of your own`);
  }
}

/** Opens PATH for appending (created 0600), refusing a symlink. Throws the fs error otherwise. */
export function openAppendNoFollow(path: string): number {
  return openNoFollow(path, O_WRONLY | O_APPEND | O_CREAT);
}

/** Creates PATH exclusively (0600), never through a symlink. */
export function createExclusive(path: string): number {
  return openNoFollow(path, O_WRONLY | O_CREAT | O_EXCL);
}

export function openReadNoFollow(path: string): number {
  return openNoFollow(path, O_RDONLY);
}

function openNoFollow(path: string, flags: number): number {
  try {
    const fd = openSync(path, flags | O_NOFOLLOW, 0o600);
    if (fstatSync(fd).isFile()) return fd;
    closeSync(fd);
    throw new MailerError("state", `${path} is not a regular file — move it away and start again`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw symlinkRefused(path);
    throw err;
  }
}

/** Refuses PATH when it is a symlink (for files another library opens, e.g. SQLite's -wal). */
export function refuseSymlink(path: string): void {
  let isLink = false;
  try {
    isLink = lstatSync(path).isSymbolicLink();
  } catch {} // absent: fine
  if (isLink) throw symlinkRefused(path);
}

function symlinkRefused(path: string): MailerError {
  return new MailerError("state", `${path} is a symbolic link; Mailer never writes through one (someone may have planted it) — remove it and start again`);
}
