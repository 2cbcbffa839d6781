import { lstatSync, mkdirSync } from "node:fs";

/**
 * The plugin's cache holds what root's launcher acts on (which binary to exec, QEMU's version), so
 * only what the running user alone can have written is trusted: a file or directory it owns that
 * neither group nor others may write. Under a umask of 000 a directory made without a mode would be
 * world-writable, and any local user could plant a record there.
 */
export function ownedAlone(path: string): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st !== undefined && !st.isSymbolicLink() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

/** A cache directory, made as needed (0755 whatever the umask), and whether it can be trusted. */
export function privateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch {
    return false;
  }
  return ownedAlone(dir);
}
