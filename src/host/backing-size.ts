import { readFileSync, realpathSync, statSync } from "node:fs";
import { basename } from "node:path";
import { HotplugError } from "../errors.js";

/**
 * The size in bytes a disk's backing store has now: a regular file's length, or a block device's
 * size from sysfs (512-byte sectors; stat says 0 for devices, and Node has no BLKGETSIZE64). What
 * QEMU is told to grow to comes from here, never from arithmetic on Ganeti's numbers.
 */
export function backingSize(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st)
    throw new HotplugError("DISK_PATH_MISSING", `the disk's path ${path} does not exist on this node; nothing was changed`);
  if (!st.isBlockDevice()) return st.size;
  const dev = basename(realpathSync(path));
  try {
    return Number(readFileSync(`/sys/class/block/${dev}/size`, "utf8").trim()) * 512;
  } catch (e) {
    throw new HotplugError("SIZE_UNKNOWN", `cannot read the size of ${path} (${dev}) from sysfs: ${(e as Error).message}`);
  }
}
