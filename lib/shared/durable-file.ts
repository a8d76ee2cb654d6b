// Small files in STATE_DIR that must survive a crash whole (the OAuth2 token, the POP3 UID map):
// durable replacement — temp file, fsync, rename, fsync of the directory — so a crash leaves the
// old or the new content, never a torn file. The temp file has an unpredictable name and is
// created exclusively without following symlinks (./safe-fs.ts), so a planted link cannot
// redirect the write.
import { closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** Replaces DIR/NAME with `data` atomically and durably; `mode` 0o600 for a file holding a secret. */
export function writeFileDurably(dir: string, name: string, data: string, mode = 0o640): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    try {
      const buf = Buffer.from(data, "utf8");
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  // the rename itself is durable only once the directory is
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
