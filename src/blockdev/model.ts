import type {
  BootOrder,
  CdromDiskType,
  DevType,
  DiskAio,
  DiskCache,
  DiskMode,
  DiskType,
  GanetiDisk,
  HvInfo,
  ScsiControllerType,
} from "../generated/common.js";

/** The storage-related hvparams after defaults are applied (Ganeti's KVM defaults). */
export interface StorageSettings {
  diskType: DiskType;
  cdromDiskType: Exclude<CdromDiskType, "">;
  cache: DiskCache;
  aio: DiskAio;
  discard: "ignore" | "unmap";
  scsiController: ScsiControllerType;
  pciReservations: number;
  bootOrder: BootOrder;
  cdromImages: [string, string];
  floppyImage: string;
  kernelPath: string;
  machine: string;
}

/** QEMU's version: major, minor, micro. */
export type QemuVersion = readonly [number, number, number];

/** What the plugin knows about the QEMU binary that will run the instance. */
export interface QemuCaps {
  version: QemuVersion;
  /** io_uring is usable: QEMU >= 5.0 and the host kernel allows it. */
  ioUring: { usable: boolean; reason: string };
}

/** One instance disk, as the core needs it. */
export interface DiskSpec {
  index: number;
  uuid: string;
  devType: DevType;
  mode: DiskMode;
  access: "kernelspace" | "userspace";
  /** Ganeti's symlink /var/run/ganeti/instance-disks/<instance>:<n> (kernelspace access). */
  link: string;
  /** What QEMU opens when it is not the link: the disk's own path, where the caller knows it. */
  path?: string;
  /** The storage URI for userspace access (rbd:, gluster://, nbd://, iscsi://). */
  uri: string | null;
  /** What the link points at, when the caller could stat it; otherwise the dev type decides. */
  pathKind?: "file" | "block";
  /** Where an earlier start placed the device; honoured so a migration target matches its source. */
  hvinfo?: HvInfo;
  /** Ganeti's Disk.ToDict() as received, carried through to the runtime entry. */
  ganeti: GanetiDisk;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type Props = { [k: string]: JsonValue };

/** One -blockdev tree (format node with its protocol child), kept as data until serialised. */
export interface BlockNode {
  nodeName: string;
  props: Props;
}

/** One -device, kept as data until serialised. `driver` is first when serialised as key=value. */
export interface Device {
  driver: string;
  props: Props;
}
