import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

/**
 * Replaces a file in one step (write, fsync, rename): a crash or SIGKILL leaves either the old or
 * the new content, never a torn file. The file gets `mode` exactly, whatever the umask.
 */
export function writeAtomically(path: string, text: string, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    try {
      fchmodSync(fd, mode);
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true }); // a full disk must not also leave our temporary file behind
    throw e;
  }
}
