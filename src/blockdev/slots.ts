import { InputError } from "../errors.js";
import type { ScsiControllerType } from "../generated/common.js";

/** Slots on the i440fx/q35 root bus. */
export const PCI_SLOTS = 32;

/**
 * Target ids the guest can reach on each controller. QEMU accepts lsi target 7, but that is the
 * adapter's own id for the guest's sym53c8xx driver, so a disk there would be invisible.
 */
export const SCSI_TARGETS: Record<ScsiControllerType, number> = { lsi: 7, megasas: 64, "virtio-scsi-pci": 256 };

export const pciAddr = (slot: number): string => `0x${slot.toString(16)}`;

export function parsePciAddr(addr: string): number {
  return Number.parseInt(addr, 16);
}

/** Free/used bookkeeping for one bus; `what` names the device in errors. */
abstract class Slots {
  protected readonly used = new Map<number, string>();
  protected readonly first: number;
  protected readonly limit: number;
  constructor(first: number, limit: number) {
    this.first = first;
    this.limit = limit;
  }

  protected abstract describe(slot: number): string;
  protected abstract exhausted(what: string): InputError;

  /** Marks a slot as taken (by hvinfo, the live VM or a device Ganeti placed there). */
  claim(slot: number, what: string): number {
    const holder = this.used.get(slot);
    if (holder !== undefined) {
      throw new InputError("SLOT_COLLISION", `${what} and ${holder} both want ${this.describe(slot)}`);
    }
    if (slot < 0 || slot >= this.limit) {
      throw new InputError("SLOT_RANGE", `${what}: ${this.describe(slot)} is out of range (0-${this.limit - 1})`);
    }
    this.used.set(slot, what);
    return slot;
  }

  isFree(slot: number): boolean {
    return !this.used.has(slot);
  }

  /** The lowest free slot at or above `first`. */
  next(what: string): number {
    for (let slot = this.first; slot < this.limit; slot++) if (!this.used.has(slot)) return this.claim(slot, what);
    throw this.exhausted(what);
  }

  /** The highest free slot: used for CD-ROMs so that disks added later never move them. */
  last(what: string): number {
    for (let slot = this.limit - 1; slot >= this.first; slot--) if (!this.used.has(slot)) return this.claim(slot, what);
    throw this.exhausted(what);
  }
}

export class PciSlots extends Slots {
  constructor(reservations: number) {
    super(reservations, PCI_SLOTS);
  }
  protected describe(slot: number): string {
    return `PCI slot ${pciAddr(slot)}`;
  }
  protected exhausted(what: string): InputError {
    return new InputError(
      "NO_PCI_SLOT",
      `no free PCI slot for ${what}: slots ${pciAddr(this.first)}-${pciAddr(this.limit - 1)} are all taken (kvm_pci_reservations=${this.first})`,
    );
  }
}

export class ScsiIds extends Slots {
  readonly controller: ScsiControllerType;
  constructor(controller: ScsiControllerType) {
    super(0, SCSI_TARGETS[controller]);
    this.controller = controller;
  }
  protected describe(slot: number): string {
    return `scsi-id ${slot}`;
  }
  protected exhausted(what: string): InputError {
    return new InputError(
      "NO_SCSI_ID",
      `no free scsi-id for ${what}: scsi_controller_type=${this.controller} has ${this.limit} targets and all are taken`,
    );
  }
}
