import type { HvParams } from "../generated/common.js";
import type { StorageSettings } from "./model.js";

/** Ganeti 3.1's KVM defaults for the hvparams we read (src/Ganeti/Constants.hs). */
const DEFAULT_PCI_RESERVATIONS = 12;

/**
 * Fills in defaults. `warn` hears about values that are accepted but rewritten, so the operator
 * learns about them instead of QEMU failing later (Ganeti 3.1 passes discard=default to QEMU).
 */
export function storageSettings(hv: HvParams, warn: (msg: string) => void): StorageSettings {
  const diskType = hv.disk_type ?? "paravirtual";
  let discard: StorageSettings["discard"] = "ignore";
  if (hv.disk_discard === "unmap") discard = "unmap";
  else if (hv.disk_discard === "default") warn("disk_discard=default is Ganeti 3.0's name for 'ignore'; using ignore");
  return {
    diskType,
    cdromDiskType: hv.cdrom_disk_type ? hv.cdrom_disk_type : cdromTypeFor(diskType),
    cache: hv.disk_cache ?? "default",
    aio: hv.disk_aio ?? "threads",
    discard,
    scsiController: hv.scsi_controller_type ?? "lsi",
    pciReservations: hv.kvm_pci_reservations ?? DEFAULT_PCI_RESERVATIONS,
    bootOrder: hv.boot_order ?? "disk",
    cdromImages: [hv.cdrom_image_path ?? "", hv.cdrom2_image_path ?? ""],
    floppyImage: hv.floppy_image_path ?? "",
    kernelPath: hv.kernel_path ?? "",
    machine: hv.machine_version ?? "",
  };
}

/** An empty cdrom_disk_type follows disk_type; every SCSI disk type means a SCSI CD-ROM. */
function cdromTypeFor(diskType: HvParams["disk_type"] & string): StorageSettings["cdromDiskType"] {
  return diskType.startsWith("scsi-") ? "scsi-cd" : diskType;
}
