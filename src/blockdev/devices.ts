import type { BootOrder, CdromDiskType, DiskType, HvInfo } from "../generated/common.js";
import { FDC_ID } from "./ids.js";
import type { Device, JsonValue, Props, StorageSettings } from "./model.js";
import { pciAddr } from "./slots.js";

/** The id of the one SCSI controller; its bus is `scsi.0` (Ganeti's names, kept for runtime files). */
export const SCSI_CONTROLLER_ID = "scsi";
export const SCSI_BUS = `${SCSI_CONTROLLER_ID}.0`;
/** A q35 board (`q35`, `pc-q35-7.2`, ...) rather than i440fx (`pc`, `pc-i440fx-7.2`). */
export const isQ35 = (machine: string): boolean => machine.includes("q35");
/** The root PCI bus: i440fx (`pc`) calls it pci.0, q35 pcie.0 (where devices cannot be hot-plugged). */
export const pciRoot = (machine: string): string => (isQ35(machine) ? "pcie.0" : "pci.0");

export type BusKind = "pci" | "scsi" | "ide";

/**
 * The board's IDE positions in QEMU's own order of drive indexes: i440fx (`pc`) has two buses of
 * two units, q35's AHCI six buses of one unit (MachineClass units_per_default_bus).
 */
export function ideSlot(index: number, machine: string): IdeSlot | undefined {
  if (index < 0 || index >= ideCapacity(machine)) return undefined;
  const units = isQ35(machine) ? 1 : 2;
  return { bus: `ide.${Math.floor(index / units)}`, unit: index % units };
}

/** How many IDE devices the board holds: 4 on i440fx, 6 on q35. */
export const ideCapacity = (machine: string): number => (isQ35(machine) ? 6 : 4);

/** The board family's name for messages. */
export const boardName = (machine: string): string => (isQ35(machine) ? "q35" : "pc (i440fx)");

/** QEMU's legacy SCSI drive index → bus number and unit (if_max_devs[IF_SCSI] = 7). */
export const legacyScsiSlot = (index: number) => ({ bus: Math.floor(index / 7), unit: index % 7 });

/** Ganeti's disk_type → QEMU device, and the bus it needs. */
const DISK_DEVICES: Record<DiskType, { driver: string; bus: BusKind; writeCache: boolean }> = {
  paravirtual: { driver: "virtio-blk-pci", bus: "pci", writeCache: true },
  "scsi-hd": { driver: "scsi-hd", bus: "scsi", writeCache: true },
  // Pass-through devices forward the guest's cache commands to the LUN: QEMU has no write-cache there.
  "scsi-block": { driver: "scsi-block", bus: "scsi", writeCache: false },
  "scsi-generic": { driver: "scsi-generic", bus: "scsi", writeCache: false },
  ide: { driver: "ide-hd", bus: "ide", writeCache: true },
};

export const diskDevice = (t: DiskType) => DISK_DEVICES[t];

/** Whether a QEMU disk device driver has a write cache the host sets (`write-cache`); CD-ROMs and pass-through have none. */
export const hasWriteCache = (driver: string): boolean =>
  Object.values(DISK_DEVICES).some((d) => d.driver === driver && d.writeCache);

/** Disk types that can be hot-plugged: IDE buses are not hot-pluggable in QEMU. */
export const isHotpluggable = (t: DiskType): boolean => DISK_DEVICES[t].bus !== "ide";

/** The same, by QEMU device driver (a runtime file's hvinfo.driver). */
export const isHotpluggableDriver = (driver: string): boolean =>
  Object.values(DISK_DEVICES).some((d) => d.driver === driver && d.bus !== "ide");

/** CD-ROM device for cdrom_disk_type (already defaulted from disk_type). */
export function cdromDevice(t: Exclude<CdromDiskType, "">): { driver: string; bus: BusKind } {
  if (t === "ide") return { driver: "ide-cd", bus: "ide" };
  if (t === "paravirtual") return { driver: "virtio-blk-pci", bus: "pci" };
  return { driver: "scsi-cd", bus: "scsi" };
}

/**
 * The device of CD-ROM drive `drive` (0 or 1). Ganeti puts the first CD-ROM on IDE when the
 * instance boots from it, whatever cdrom_disk_type says (hv_kvm _CdromOption; recorded:
 * test/fixtures/ganeti-3.0.2/extra/kvm-cmdline.instance-start-native-nocache-cdromboot.txt):
 * firmware boots a CD-ROM from IDE, not from virtio-blk.
 */
export function cdromDeviceFor(s: StorageSettings, drive: number, boot: BootOrder | undefined) {
  return cdromDevice(drive === 0 && boot === "cdrom" ? "ide" : s.cdromDiskType);
}

/** Devices whose presence on a command line makes QEMU drop its default CD-ROM (vl.c default_list). */
const SUPPRESS_DEFAULT_CDROM: ReadonlySet<string> = new Set(["ide-cd", "ide-hd", "scsi-cd", "scsi-hd"]);
export const suppressesDefaultCdrom = (driver: string): boolean => SUPPRESS_DEFAULT_CDROM.has(driver);

/**
 * QEMU's default CD-ROM, made explicit: an empty ide-cd at IDE index 2. A command line without
 * -nodefaults has it unless a drive sits at that index or a device in SUPPRESS_DEFAULT_CDROM is
 * given. Storage stated with such devices makes QEMU drop it, so where the legacy command line had
 * it (`legacyHadIt`), it is created, and the guest keeps the drives it had.
 */
export function keptDefaultCdrom(legacyHadIt: boolean, devices: readonly Device[], machine: string): Device | undefined {
  if (!legacyHadIt || !devices.some((d) => suppressesDefaultCdrom(d.driver))) return undefined;
  const slot = ideSlot(2, machine);
  return slot && device("ide-cd", { bus: slot.bus, unit: slot.unit });
}

/** Where a device sits, in Ganeti's hvinfo shape (IDE disks get a PCI slot recorded, as Ganeti does). */
export type Placement =
  | { bus: "pci"; slot: number }
  | { bus: "scsi"; scsiId: number }
  | { bus: "ide"; ide: IdeSlot }
  | { bus: "auto" };

/** An IDE position: the board's bus (ide.0, ide.1, ...) and the unit on it. */
export interface IdeSlot {
  bus: string;
  unit: number;
}

/**
 * Ganeti's hvinfo for a disk at a placement. IDE disks keep the PCI slot Ganeti records for them
 * (its slot bookkeeping counts it) and add where they sit on the IDE buses.
 */
export function hvinfoFor(diskType: DiskType, id: string, place: Placement, root: string, ide?: IdeSlot): HvInfo {
  if (place.bus === "scsi") {
    return { driver: DISK_DEVICES[diskType].driver as "scsi-hd", id, bus: SCSI_BUS, channel: 0, "scsi-id": place.scsiId, lun: 0 };
  }
  const slot = place.bus === "pci" ? place.slot : 0;
  const info: HvInfo = { driver: diskType === "ide" ? "ide" : "virtio-blk-pci", id, bus: root, addr: pciAddr(slot) };
  return ide ? { ...info, "ide-bus": ide.bus, "ide-unit": ide.unit } : info;
}

/** Device properties for a placement; IDE and auto placements let QEMU pick the bus. */
export function placementProps(place: Placement, root: string): Props {
  if (place.bus === "pci") return { bus: root, addr: pciAddr(place.slot) };
  if (place.bus === "scsi") return { bus: SCSI_BUS, channel: 0, "scsi-id": place.scsiId, lun: 0 };
  if (place.bus === "ide") return { bus: place.ide.bus, unit: place.ide.unit };
  return {};
}

export function device(driver: string, props: { [k: string]: JsonValue | undefined }): Device {
  const clean: Props = {};
  for (const [k, v] of Object.entries(props)) if (v !== undefined) clean[k] = v;
  return { driver, props: clean };
}

/**
 * The floppy controller, the same on both roads (instance-start, the launcher): q35 has none of its
 * own, so one is added, booting with its bootindexA; pc's board controller is told by -global.
 */
export function floppyController(machine: string, boots: boolean): { devices: Device[]; extraArgs: string[] } {
  if (isQ35(machine)) return { devices: [device("isa-fdc", { id: FDC_ID, bootindexA: boots ? 1 : undefined })], extraArgs: [] };
  return { devices: [], extraArgs: boots ? ["-global", "isa-fdc.bootindexA=1"] : [] };
}
