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

const sameFile = (path: string, st: Stats) => {
  const other = statSync(path, { throwIfNoEntry: false });
  return other !== undefined && sameTarget(other, st);
};

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
 * - a link to another disk of the same instance (`ours`): Ganeti names links by index and leaves
 *   them when disks are removed, so after a removal `<inst>:2` can name the disk that is now
 *   disk/1. It is pointed at its own disk again, with a warning;
 * - a link or file naming anything else that exists: refused. A block device nobody holds has no
 *   lock to stop QEMU from attaching it: this is how a hot-add could attach a foreign disk. The
 *   operator decides which is right.
 */
export function settleDiskLink(link: string, path: string, warn: (m: string) => void, ours: readonly string[] = []): LinkAction {
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
  const sibling = current && ours.find((p) => p !== path && sameFile(p, current));
  if (sibling) {
    pointLink(link, path);
    warn(`pointed ${link} at ${path}; it named ${sibling}, another disk of this instance whose index moved`);
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

/** One disk as the links see it: Ganeti's index and the disk's own path. */
export interface LinkedDisk {
  index: number;
  uuid: string;
  path: string;
}

/**
 * Makes every link of the instance on this node name its disk, by Ganeti's current indexes, so that
 * Ganeti's later operations (soft reboots and migrations execute the runtime file's links) find the
 * right disks. Returns the link of each disk whose link is right now; a link that names something
 * foreign is left as it is and reported.
 */
export function alignLinks(
  disks: readonly LinkedDisk[],
  linkOf: (index: number) => string,
  ours: readonly string[],
  report: (m: string) => void,
): Map<string, string> {
  const right = new Map<string, string>();
  for (const d of disks) {
    // A path that is not on this node is not this node's to link (the hook that needs it says so).
    if (!statSync(d.path, { throwIfNoEntry: false })) continue;
    const link = linkOf(d.index);
    try {
      const action = settleDiskLink(link, d.path, report, ours);
      if (action === "created") report(`created ${link} for disk/${d.index}, as Ganeti would`);
      right.set(d.uuid, link);
    } catch (e) {
      report(`disk/${d.index}: ${(e as Error).message}`);
    }
  }
  return right;
}
