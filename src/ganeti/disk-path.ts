import type { DevType } from "../generated/common.js";

/**
 * Where a kernelspace disk's data is on the instance's primary node, from the disk's own
 * logical_id as Ganeti keeps it (objects.Disk, bdev.py's dev_path):
 * - file, sharedfile: [driver, path] → the image path;
 * - blockdev: [driver, adopted path] → that path;
 * - plain: [vg, lv] → /dev/<vg>/<lv>;
 * - drbd: [pnode, snode, port, pminor, sminor, secret] → /dev/drbd<pminor> (a disk added to a running
 *   instance is created with the current primary as its pnode).
 *
 * Undefined where only Ganeti's disk link can tell: kernelspace rbd (mapped to /dev/rbdN at
 * attach time), ext (the provider's attach script prints it) and gluster (a mount point).
 * Why not the link: Ganeti leaves the links of removed disks in place, so `<inst>:<n>` can name
 * another disk's image or device (ganeti-lab README, "Host block devices").
 */
export function dataPath(devType: DevType, logicalId: readonly (string | number)[] | undefined): string | undefined {
  if (!logicalId) return undefined;
  const at = (i: number): string | undefined => {
    const v = logicalId[i];
    return v === undefined || v === "" ? undefined : String(v);
  };
  switch (devType) {
    case "file":
    case "sharedfile":
    case "blockdev":
      return at(1);
    case "plain": {
      const vg = at(0);
      const lv = at(1);
      return vg && lv ? `/dev/${vg}/${lv}` : undefined;
    }
    case "drbd": {
      const minor = at(3);
      return minor && /^[0-9]+$/.test(minor) ? `/dev/drbd${minor}` : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * logical_id put back together from the hook environment, where BuildDiskLogicalIDEnv flattens it
 * into DISKn_* variables; only the fields `dataPath` reads are filled in.
 */
export function envLogicalId(devType: DevType, get: (field: string) => string | undefined): string[] {
  switch (devType) {
    case "plain":
      return [get("VG") ?? "", get("ID") ?? ""];
    case "drbd":
      return ["", "", "", get("PMINOR") ?? ""];
    default:
      return [get("DRIVER") ?? "", get("ID") ?? ""];
  }
}

/** The DISKn_* variables that carry the path of each dev type that has one Ganeti exports. */
export const PATH_VARIABLES: Readonly<Partial<Record<DevType, readonly string[]>>> = {
  file: ["ID"],
  sharedfile: ["ID"],
  blockdev: ["ID"],
  plain: ["VG", "ID"],
  drbd: ["PMINOR"],
};
