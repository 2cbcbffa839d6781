import { InputError } from "../errors.js";
import type { HvInfo, RuntimeDiskEntry } from "../generated/common.js";
import { MEDIA_CACHE } from "./cache.js";
import {
  type BusKind,
  boardName,
  cdromDeviceFor,
  device,
  diskDevice,
  floppyController,
  type IdeSlot,
  ideCapacity,
  ideSlot,
  type Placement,
  pciRoot,
  placementProps,
  SCSI_CONTROLLER_ID,
} from "./devices.js";
import { diskBlockNode, diskGuestDevice, diskId } from "./disk.js";
import { cdromId, FLOPPY_ID } from "./ids.js";
import type { BlockNode, Device, DiskSpec, QemuCaps, StorageSettings } from "./model.js";
import { type Location, storageNode } from "./nodes.js";
import { isHttpUrl } from "./protocols.js";
import { PCI_SLOTS, PciSlots, parsePciAddr, SCSI_TARGETS, ScsiIds } from "./slots.js";

export interface MediaInfo {
  /** What a local CD-ROM or floppy image path is, when the caller could stat it. */
  pathKind?: (path: string) => "file" | "block" | undefined;
}

export interface InstanceStorage {
  nodes: BlockNode[];
  devices: Device[];
  /** Other arguments, e.g. -global for the board's floppy controller. */
  extraArgs: string[];
  runtimeDisks: RuntimeDiskEntry[];
  warnings: string[];
}

/** Where an hvinfo recorded by an earlier start puts the disk, if it still fits the disk type. */
function recordedPlacement(hv: HvInfo | undefined, bus: BusKind, driver: string): Placement | undefined {
  if (!hv) return undefined;
  if ("addr" in hv && bus !== "scsi" && (hv.driver === driver || (bus === "ide" && hv.driver === "ide"))) {
    return { bus: "pci", slot: parsePciAddr(hv.addr) };
  }
  if ("scsi-id" in hv && bus === "scsi" && hv.driver === driver) return { bus: "scsi", scsiId: hv["scsi-id"] };
  return undefined;
}

/** One CD-ROM drive with a medium: its name, image and device kind. */
interface Cdrom {
  drive: number;
  name: string;
  image: string;
  dev: { driver: string; bus: BusKind };
}

/**
 * The whole storage configuration of one instance: disks, CD-ROMs, floppy, their controller and
 * boot order. Pure: every fact about the host comes in through the arguments.
 */
export function instanceStorage(
  disks: readonly DiskSpec[],
  s: StorageSettings,
  caps: QemuCaps,
  media: MediaInfo = {},
): InstanceStorage {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const boot = bootOrder(s);
  const dev = diskDevice(s.diskType);
  const cdroms: Cdrom[] = s.cdromImages.flatMap((image, i) =>
    image === "" ? [] : [{ drive: i, name: cdromId(i + 1), image, dev: cdromDeviceFor(s, i, boot) }],
  );
  const ids = diskIds(disks);
  checkCapacity(disks.length, cdroms, s);
  const needsScsi = (disks.length > 0 && dev.bus === "scsi") || cdroms.some((c) => c.dev.bus === "scsi");
  const scsi = needsScsi ? new ScsiIds(s.scsiController) : undefined;
  const ide = idePlacement(disks, ids, s, cdroms, dev.bus === "ide");

  const nodes: BlockNode[] = [];
  const devices: Device[] = [];
  const runtimeDisks: RuntimeDiskEntry[] = [];
  if (scsi) devices.push(device(scsiControllerDriver(s), { id: SCSI_CONTROLLER_ID }));
  const places = diskPlacements(disks, s, new PciSlots(s.pciReservations), scsi, warn);
  disks.forEach((d, i) => {
    const id = ids[i] as string;
    nodes.push(diskBlockNode(d, id, s, caps, warn));
    const planned = diskGuestDevice(d, id, s, places[i] as Placement, boot === "disk" && i === 0 ? 1 : undefined, ide.get(id));
    devices.push(planned.device);
    runtimeDisks.push([{ ...d.ganeti, hvinfo: planned.hvinfo }, d.link, d.uri]);
  });
  for (const cd of cdroms) {
    nodes.push(cdromNode(cd.name, cd.image, media.pathKind?.(cd.image)));
    devices.push(cdromGuestDevice(cd, s, scsi, ide, boot));
  }
  const extraArgs: string[] = [];
  if (s.floppyImage !== "") {
    const floppy = floppyStorage(s, boot);
    nodes.push(floppy.node);
    devices.push(...floppy.devices);
    extraArgs.push(...floppy.extraArgs);
  }
  // Network boot belongs to the NICs, which Ganeti creates; the firmware is told to try them first.
  if (boot === "network") extraArgs.push("-boot", "order=n");
  return { nodes, devices, extraArgs, runtimeDisks, warnings };
}

/** The boot order, unless a kernel is booted directly; refused when it names a drive without a medium. */
function bootOrder(s: StorageSettings): StorageSettings["bootOrder"] | undefined {
  const boot = s.kernelPath === "" ? s.bootOrder : undefined;
  if (boot === "cdrom" && s.cdromImages[0] === "") {
    throw new InputError("BOOT_WITHOUT_MEDIUM", "boot_order=cdrom needs cdrom_image_path");
  }
  if (boot === "floppy" && s.floppyImage === "") {
    throw new InputError("BOOT_WITHOUT_MEDIUM", "boot_order=floppy needs floppy_image_path");
  }
  return boot;
}

/** The disks' ids, checked first: two uuids sharing their first three groups would share a device and a node. */
function diskIds(disks: readonly DiskSpec[]): string[] {
  const ids = disks.map(diskId);
  ids.forEach((id, i) => {
    const j = ids.indexOf(id);
    if (j !== i) throw new InputError("DUPLICATE_DISK", `disks ${j} and ${i} both map to device id ${id}`);
  });
  return ids;
}

/** Each disk's slot: recorded placements are claimed before new ones are handed out, so they never move. */
function diskPlacements(
  disks: readonly DiskSpec[],
  s: StorageSettings,
  pci: PciSlots,
  scsi: ScsiIds | undefined,
  warn: (m: string) => void,
): Placement[] {
  const dev = diskDevice(s.diskType);
  const recorded = disks.map((d, i) => {
    const place = recordedPlacement(d.hvinfo, dev.bus, dev.driver);
    const what = `disk ${i}`;
    if (d.hvinfo && !place)
      warn(`${what}: recorded hvinfo (${d.hvinfo.driver}) does not fit disk_type=${s.diskType}; placing it anew`);
    if (place?.bus === "pci") pci.claim(place.slot, what);
    if (place?.bus === "scsi") scsi?.claim(place.scsiId, what);
    return place;
  });
  return recorded.map(
    (place, i): Placement =>
      place ??
      (dev.bus === "scsi"
        ? { bus: "scsi", scsiId: (scsi as ScsiIds).next(`disk ${i}`) }
        : { bus: "pci", slot: pci.next(`disk ${i}`) }),
  );
}

/**
 * A CD-ROM's device: read-only medium over a file or an HTTP(S) URL. SCSI ones take ids from the
 * top so that disks added later never collide with them; PCI ones let QEMU pick a reserved slot,
 * as Ganeti does.
 */
function cdromGuestDevice(
  cd: Cdrom,
  s: StorageSettings,
  scsi: ScsiIds | undefined,
  ide: ReadonlyMap<string, IdeSlot>,
  boot: StorageSettings["bootOrder"] | undefined,
): Device {
  const ideAt = ide.get(cd.name);
  const place: Placement =
    cd.dev.bus === "scsi"
      ? { bus: "scsi", scsiId: (scsi as ScsiIds).last(cd.name) }
      : ideAt
        ? { bus: "ide", ide: ideAt }
        : { bus: "auto" };
  return device(cd.dev.driver, {
    id: cd.name,
    ...placementProps(place, pciRoot(s.machine)),
    drive: cd.name,
    bootindex: boot === "cdrom" && cd.drive === 0 ? 1 : undefined,
  });
}

/** The floppy: its node, its controller (devices.ts), and the drive on it. */
function floppyStorage(s: StorageSettings, boot: StorageSettings["bootOrder"] | undefined) {
  const { devices, extraArgs } = floppyController(s.machine, boot === "floppy");
  devices.push(device("floppy", { id: FLOPPY_ID, unit: 0, drive: FLOPPY_ID }));
  return { node: mediaNode(FLOPPY_ID, { path: s.floppyImage, kind: "file" }, false), devices, extraArgs };
}

/**
 * Where every IDE device sits. The order is QEMU's drive-index order of Ganeti's own command line:
 * the CD-ROMs' -drive options come before the disks', so cdrom1, cdrom2, then the disks. The
 * kvm_path launcher places Ganeti's legacy drives by the same rule (ideSlot), so a VM started
 * either way has the same layout. A disk's recorded position (hvinfo ide-bus/ide-unit) is kept.
 */
function idePlacement(
  disks: readonly DiskSpec[],
  ids: readonly string[],
  s: StorageSettings,
  cdroms: readonly Cdrom[],
  ideDisks: boolean,
): Map<string, IdeSlot> {
  const names = [...cdroms.flatMap((cd) => (cd.dev.bus === "ide" ? [cd.name] : [])), ...(ideDisks ? ids : [])];
  const out = new Map<string, IdeSlot>();
  if (names.length === 0) return out;
  const cap = ideCapacity(s.machine);
  const taken = new Set<string>();
  const key = (x: IdeSlot) => `${x.bus}:${x.unit}`;
  if (ideDisks) {
    disks.forEach((d, i) => {
      const hv = d.hvinfo;
      if (!hv || !("ide-bus" in hv) || hv["ide-bus"] === undefined || hv["ide-unit"] === undefined) return;
      const at = { bus: hv["ide-bus"], unit: hv["ide-unit"] };
      const valid = Array.from({ length: cap }, (_, n) => ideSlot(n, s.machine)).some((x) => x && key(x) === key(at));
      if (valid && !taken.has(key(at))) {
        out.set(ids[i] as string, at);
        taken.add(key(at));
      }
    });
  }
  let next = 0;
  for (const name of names) {
    if (out.has(name)) continue;
    let at = ideSlot(next++, s.machine);
    while (at && taken.has(key(at))) at = ideSlot(next++, s.machine);
    if (!at) break; // checkCapacity has said no already
    out.set(name, at);
    taken.add(key(at));
  }
  return out;
}

/**
 * Refuses before QEMU what the board cannot hold, with the count and the limit: IDE devices (4 on
 * i440fx, 6 on q35), SCSI devices per controller, and PCI slots above kvm_pci_reservations.
 */
function checkCapacity(diskCount: number, cdroms: readonly Cdrom[], s: StorageSettings): void {
  const dev = diskDevice(s.diskType);
  const count = (bus: string) => (dev.bus === bus ? diskCount : 0) + cdroms.filter((cd) => cd.dev.bus === bus).length;
  const ide = count("ide");
  if (ide > ideCapacity(s.machine)) {
    throw new InputError(
      "IDE_FULL",
      `${ide} IDE devices (disk_type=${s.diskType}, cdrom_disk_type=${s.cdromDiskType}) but the ${boardName(s.machine)} board holds ${ideCapacity(s.machine)}`,
    );
  }
  const scsiTargets = SCSI_TARGETS[s.scsiController];
  if (count("scsi") > scsiTargets) {
    throw new InputError(
      "SCSI_FULL",
      `${count("scsi")} SCSI devices but scsi_controller_type=${s.scsiController} holds ${scsiTargets}`,
    );
  }
  const pciFree = PCI_SLOTS - s.pciReservations;
  if (dev.bus === "pci" && diskCount > pciFree) {
    throw new InputError(
      "PCI_FULL",
      `${diskCount} virtio disks but the board has ${pciFree} PCI slot(s) above kvm_pci_reservations=${s.pciReservations}`,
    );
  }
}

function scsiControllerDriver(s: StorageSettings): string {
  return s.scsiController === "lsi" ? "lsi53c895a" : s.scsiController;
}

/** A CD-ROM's or a floppy's image: an HTTP(S) URL, or a local path (a file unless known to be a block device). */
export const mediaLocation = (image: string, kind: "file" | "block" | undefined): Location =>
  isHttpUrl(image) ? { url: image } : { path: image, kind: kind ?? "file" };

/** A medium's node: the host's page cache, as under Ganeti's own -drive (no cache= given); no discard. */
const mediaNode = (name: string, location: Location, readOnly: boolean): BlockNode =>
  storageNode({ name, location, cache: MEDIA_CACHE, readOnly }, name);

/**
 * A CD-ROM medium: read-only raw over a local file or block device, or over an HTTP(S) URL through
 * QEMU's curl driver. Used at start and for a live medium change (cdrom-change).
 */
export function cdromNode(name: string, image: string, kind: "file" | "block" | undefined): BlockNode {
  return mediaNode(name, mediaLocation(image, kind), true);
}
