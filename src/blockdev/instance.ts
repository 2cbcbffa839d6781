import { InputError } from "../errors.js";
import type { HvInfo, RuntimeDiskEntry } from "../generated/common.js";
import { MEDIA_CACHE } from "./cache.js";
import {
  type BusKind,
  boardName,
  cdromDevice,
  device,
  diskDevice,
  type IdeSlot,
  ideCapacity,
  ideSlot,
  isQ35,
  type Placement,
  pciRoot,
  placementProps,
  SCSI_CONTROLLER_ID,
} from "./devices.js";
import { diskBlockNode, diskGuestDevice, diskId } from "./disk.js";
import type { BlockNode, Device, DiskSpec, QemuCaps, StorageSettings } from "./model.js";
import { nodeOptions, rawNode } from "./nodes.js";
import { fileProtocol, hostDeviceProtocol, httpProtocol, isHttpUrl } from "./protocols.js";
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
  const pci = new PciSlots(s.pciReservations);
  const dev = diskDevice(s.diskType);
  const cd = cdromDevice(s.cdromDiskType);
  const cdImages = s.cdromImages.filter((img) => img !== "");
  const needsScsi = (disks.length > 0 && dev.bus === "scsi") || (cdImages.length > 0 && cd.bus === "scsi");
  const scsi = needsScsi ? new ScsiIds(s.scsiController) : undefined;
  const boot = s.kernelPath === "" ? s.bootOrder : undefined;
  if (boot === "cdrom" && s.cdromImages[0] === "") {
    throw new InputError("BOOT_WITHOUT_MEDIUM", "boot_order=cdrom needs cdrom_image_path");
  }
  if (boot === "floppy" && s.floppyImage === "") {
    throw new InputError("BOOT_WITHOUT_MEDIUM", "boot_order=floppy needs floppy_image_path");
  }

  // Ids first: two uuids sharing their first three groups would share a device and a node.
  const ids = disks.map(diskId);
  ids.forEach((id, i) => {
    const j = ids.indexOf(id);
    if (j !== i) throw new InputError("DUPLICATE_DISK", `disks ${j} and ${i} both map to device id ${id}`);
  });
  checkCapacity(disks.length, cdImages.length, s);
  const ide = idePlacement(disks, ids, s, cd.bus === "ide" ? s.cdromImages : ["", ""], dev.bus === "ide");

  // Recorded placements are claimed before new ones are handed out, so they never move.
  const places: (Placement | undefined)[] = disks.map((d, i) => {
    const recorded = recordedPlacement(d.hvinfo, dev.bus, dev.driver);
    const what = `disk ${i}`;
    if (d.hvinfo && !recorded)
      warn(`${what}: recorded hvinfo (${d.hvinfo.driver}) does not fit disk_type=${s.diskType}; placing it anew`);
    if (recorded?.bus === "pci") pci.claim(recorded.slot, what);
    if (recorded?.bus === "scsi") scsi?.claim(recorded.scsiId, what);
    return recorded;
  });
  const nodes: BlockNode[] = [];
  const devices: Device[] = [];
  const runtimeDisks: RuntimeDiskEntry[] = [];
  if (scsi) devices.push(device(scsiControllerDriver(s), { id: SCSI_CONTROLLER_ID }));
  disks.forEach((d, i) => {
    const id = ids[i] as string;
    const place: Placement =
      places[i] ??
      (dev.bus === "scsi"
        ? { bus: "scsi", scsiId: (scsi as ScsiIds).next(`disk ${i}`) }
        : { bus: "pci", slot: pci.next(`disk ${i}`) });
    nodes.push(diskBlockNode(d, id, s, caps, warn));
    const planned = diskGuestDevice(d, id, s, place, boot === "disk" && i === 0 ? 1 : undefined, ide.get(id));
    devices.push(planned.device);
    runtimeDisks.push([{ ...d.ganeti, hvinfo: planned.hvinfo }, d.link, d.uri]);
  });

  // CD-ROMs: read-only raw over a file or an HTTP(S) URL. SCSI ones take ids from the top so that
  // disks added later never collide with them; PCI ones let QEMU pick a reserved slot, as Ganeti does.
  s.cdromImages.forEach((image, i) => {
    if (image === "") return;
    const name = `cdrom${i + 1}`;
    nodes.push(cdromNode(name, image, media.pathKind?.(image)));
    const ideAt = ide.get(name);
    const place: Placement =
      cd.bus === "scsi"
        ? { bus: "scsi", scsiId: (scsi as ScsiIds).last(name) }
        : ideAt
          ? { bus: "ide", ide: ideAt }
          : { bus: "auto" };
    devices.push(
      device(cd.driver, {
        id: name,
        ...placementProps(place, pciRoot(s.machine)),
        drive: name,
        bootindex: boot === "cdrom" && i === 0 ? 1 : undefined,
      }),
    );
  });

  // Floppy: the board's controller on pc; q35 has none, so one is added.
  const extraArgs: string[] = [];
  if (s.floppyImage !== "") {
    const fdBoot = boot === "floppy";
    nodes.push(mediaNode("floppy1", fileProtocol(s.floppyImage), false));
    if (isQ35(s.machine)) devices.push(device("isa-fdc", { id: "fdc0", bootindexA: fdBoot ? 1 : undefined }));
    else if (fdBoot) extraArgs.push("-global", "isa-fdc.bootindexA=1");
    devices.push(device("floppy", { id: "floppy1", unit: 0, drive: "floppy1" }));
  }
  // Network boot belongs to the NICs, which Ganeti creates; the firmware is told to try them first.
  if (boot === "network") extraArgs.push("-boot", "order=n");
  return { nodes, devices, extraArgs, runtimeDisks, warnings };
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
  cdroms: readonly [string, string] | readonly string[],
  ideDisks: boolean,
): Map<string, IdeSlot> {
  const names = [...cdroms.flatMap((img, i) => (img ? [`cdrom${i + 1}`] : [])), ...(ideDisks ? ids : [])];
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
function checkCapacity(diskCount: number, cdromCount: number, s: StorageSettings): void {
  const dev = diskDevice(s.diskType);
  const cd = cdromDevice(s.cdromDiskType);
  const count = (bus: string) => (dev.bus === bus ? diskCount : 0) + (cd.bus === bus ? cdromCount : 0);
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

const mediaNode = (name: string, protocol: BlockNode["props"], readOnly: boolean): BlockNode =>
  rawNode(name, protocol, nodeOptions(MEDIA_CACHE, readOnly));

/**
 * A CD-ROM medium: read-only raw over a local file or block device, or over an HTTP(S) URL through
 * QEMU's curl driver. Used at start and for a live medium change (cdrom-change).
 */
export function cdromNode(name: string, image: string, kind: "file" | "block" | undefined): BlockNode {
  const protocol = isHttpUrl(image) ? httpProtocol(image) : kind === "block" ? hostDeviceProtocol(image) : fileProtocol(image);
  return mediaNode(name, protocol, true);
}
