import { lstatSync, mkdirSync, realpathSync, renameSync, rmSync, type Stats, statSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { HotplugError } from "../errors.js";

/** What settleDiskLink did to Ganeti's link. */
export type LinkAction = "kept" | "created" | "repaired";

/** Same file or device: one inode, or (device nodes made twice, e.g. by udev and by hand) one rdev. */
function sameTarget(a: Stats, b: Stats): boolean {
  if (a.dev === b.dev && a.ino === b.ino) return true;
  return a.isBlockDevice() && b.isBlockDevice() && a.rdev === b.rdev;
}

/** Points `link` at `path` in one step (a new link renamed over the old one), as Ganeti's _SymlinkBlockDev would. */
function pointLink(link: string, path: string): void {
  mkdirSync(dirname(link), { recursive: true });
  const tmp = `${link}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  try {
    symlinkSync(path, tmp);
    renameSync(tmp, link);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new HotplugError("DISK_LINK_FAILED", `cannot point ${link} at ${path} (${(e as Error).message}); nothing was attached`);
  }
}

/**
 * Makes Ganeti's disk link `<inst>:<n>` name the disk's own path, so that Ganeti's later operations,
 * which open the link, find this disk. QEMU is given `path` itself, never the link.
 * - no link (Ganeti makes one only when it hot-plugs the disk itself): created;
 * - a link to the same file or device: kept;
 * - a dangling link (left behind by a removed disk whose image is gone): replaced, with a warning;
 * - a link or file naming anything else that exists: refused. Ganeti leaves the links of removed
 *   disks in place, and a block device nobody holds has no lock to stop QEMU from attaching it:
 *   this is how a hot-add could attach another disk. The operator decides which is right.
 */
export function settleDiskLink(link: string, path: string, warn: (m: string) => void): LinkAction {
  const wanted = statSync(path, { throwIfNoEntry: false });
  if (!wanted) {
    throw new HotplugError(
      "DISK_PATH_MISSING",
      `the disk's path ${path} (as Ganeti gives it) does not exist on this node; nothing was attached`,
    );
  }
  const entry = lstatSync(link, { throwIfNoEntry: false });
  if (!entry) {
    pointLink(link, path);
    return "created";
  }
  const current = statSync(link, { throwIfNoEntry: false });
  if (current && sameTarget(current, wanted)) return "kept";
  if (!current && entry.isSymbolicLink()) {
    pointLink(link, path);
    warn(`replaced the dangling link ${link} (left by a removed disk) with one to ${path}`);
    return "repaired";
  }
  let names: string;
  try {
    names = entry.isSymbolicLink() ? `points at ${realpathSync(link)}` : "is not a link";
  } catch {
    names = "cannot be resolved";
  }
  throw new HotplugError(
    "DISK_LINK_MISMATCH",
    `Ganeti's disk link ${link} ${names}, but Ganeti says the disk is ${path}; nothing was attached. ` +
      `The link is probably left from a removed disk: check what it names, remove it, and restart or ` +
      `live-migrate the instance to attach the disk (Ganeti recreates every link at a start)`,
  );
}
