import { InputError } from "../errors.js";
import type { DevType, HvInfo } from "../generated/common.js";
import { aioFitsCache, type CacheSetting, cacheSetting } from "./cache.js";
import { device, diskDevice, hvinfoFor, type IdeSlot, type Placement, pciRoot, placementProps } from "./devices.js";
import { checkNodeName, deviceIdOf } from "./ids.js";
import type { BlockNode, Device, DiskSpec, QemuCaps, StorageSettings } from "./model.js";
import { type Location, storageNode } from "./nodes.js";

/** Ganeti's file-based dev types; every other kernelspace disk is a block device. */
const FILE_DEV_TYPES: ReadonlySet<DevType> = new Set(["file", "sharedfile", "gluster"]);

const where = (disk: DiskSpec) => `disk ${disk.index} (${disk.uuid})`;

/** Rejects aio modes this disk's cache or this host cannot honour, before QEMU does it less clearly. */
function checkAio(disk: DiskSpec, s: StorageSettings, cache: CacheSetting, caps: QemuCaps): void {
  if (!aioFitsCache(s.aio, cache)) {
    throw new InputError(
      "AIO_NEEDS_DIRECT",
      `disk_aio=native needs disk_cache=none or directsync (O_DIRECT), but ${where(disk)} has disk_cache=${cache.mode}`,
    );
  }
  checkIoUring(disk, s, caps);
}

/**
 * Rejects disk_aio=io_uring where the host or QEMU cannot give it: the one part of a disk's plan
 * that depends on QEMU's build, so a plan made before QEMU was asked is checked again with it.
 */
export function checkIoUring(disk: DiskSpec, s: StorageSettings, caps: QemuCaps): void {
  if (disk.access === "kernelspace" && s.aio === "io_uring" && !caps.ioUring.usable) {
    throw new InputError("IO_URING_UNAVAILABLE", `disk_aio=io_uring cannot be used here: ${caps.ioUring.reason}`);
  }
}

/** Where a disk's data is: its URI (userspace access) or its path (kernelspace). */
function diskLocation(disk: DiskSpec): Location {
  if (disk.access === "userspace") {
    if (!disk.uri) throw new InputError("MISSING_URI", `${where(disk)}: access=userspace needs a storage URI`);
    return { uri: disk.uri };
  }
  return { path: disk.path ?? disk.link, kind: disk.pathKind ?? (FILE_DEV_TYPES.has(disk.devType) ? "file" : "block") };
}

/** The -blockdev tree of one disk. `warn` hears about cache modes the shared-storage rule replaced. */
export function diskBlockNode(
  disk: DiskSpec,
  id: string,
  s: StorageSettings,
  caps: QemuCaps,
  warn: (m: string) => void,
): BlockNode {
  const cache = cacheSetting(s.cache, disk.devType);
  if (cache.forcedFrom !== undefined && cache.forcedFrom !== "none") {
    warn(`${where(disk)}: disk_cache=${cache.forcedFrom} replaced by none for shared storage (dev_type ${disk.devType})`);
  }
  const location = diskLocation(disk);
  if (disk.access === "kernelspace") checkAio(disk, s, cache, caps);
  const readOnly = disk.mode === "ro";
  if (readOnly && s.diskType === "ide") {
    throw new InputError("RO_IDE", `${where(disk)}: mode ro cannot use disk_type=ide (QEMU's ide-hd needs a writable node)`);
  }
  const aio = "uri" in location ? undefined : s.aio;
  return storageNode({ name: id, location, cache, aio, readOnly, discard: s.discard }, `${where(disk)} uri`);
}

/**
 * The guest device of one disk at a placement. IDE disks sit at their IDE position (`ide`) and keep
 * Ganeti's PCI slot only on record.
 */
export function diskGuestDevice(
  disk: DiskSpec,
  id: string,
  s: StorageSettings,
  place: Placement,
  bootindex?: number,
  ide?: IdeSlot,
): PlannedDevice {
  const dev = diskDevice(s.diskType);
  const cache = cacheSetting(s.cache, disk.devType);
  const guestPlace: Placement = dev.bus === "ide" ? (ide ? { bus: "ide", ide } : { bus: "auto" }) : place;
  return {
    device: device(dev.driver, {
      id,
      ...placementProps(guestPlace, pciRoot(s.machine)),
      drive: id,
      "write-cache": dev.writeCache ? (cache.writeCache ? "on" : "off") : undefined,
      bootindex,
    }),
    hvinfo: hvinfoFor(s.diskType, id, place, pciRoot(s.machine), dev.bus === "ide" ? ide : undefined),
  };
}

export interface PlannedDevice {
  device: Device;
  hvinfo: HvInfo;
}

/** The device id (= node name) of a disk, checked as QEMU would check it. */
export function diskId(disk: DiskSpec): string {
  return checkNodeName(deviceIdOf(disk.uuid, disk.hvinfo));
}
