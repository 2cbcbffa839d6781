import { diskDevice, hvinfoFor, type Placement, pciRoot, SCSI_CONTROLLER_ID } from "../blockdev/devices.js";
import { diskBlockNode, diskGuestDevice, diskId } from "../blockdev/disk.js";
import type { BlockNode, DiskSpec, QemuCaps, StorageSettings } from "../blockdev/model.js";
import { PciSlots, parsePciAddr, ScsiIds } from "../blockdev/slots.js";
import { HotplugError } from "../errors.js";
import type { HvInfo, RuntimeDiskEntry } from "../generated/common.js";
import type { QmpClient } from "../qmp/client.js";
import { reason } from "../qmp/errors.js";
import { blockOf, type LiveState, liveState } from "./live.js";

export interface AddPlan {
  disk: DiskSpec;
  id: string;
  node: BlockNode;
  settings: StorageSettings;
}

/**
 * Everything that can be decided without the VM: done before connecting, so that invalid input
 * never sends a single command.
 */
export function planAdd(disk: DiskSpec, settings: StorageSettings, caps: QemuCaps, warn: (m: string) => void): AddPlan {
  const id = diskId(disk);
  return { disk, id, node: diskBlockNode(disk, id, settings, caps, warn), settings };
}

/** Free slot for the new disk: taken from the live VM and the runtime file together. */
function choosePlacement(plan: AddPlan, live: LiveState, recorded: readonly HvInfo[]): Placement {
  const bus = diskDevice(plan.settings.diskType).bus;
  if (bus === "scsi") {
    if (!live.devices.has(SCSI_CONTROLLER_ID)) {
      throw new HotplugError(
        "NO_SCSI_CONTROLLER",
        `the instance has no SCSI controller '${SCSI_CONTROLLER_ID}' (it was started with another disk_type); restart it to add ${plan.settings.diskType} disks`,
      );
    }
    const ids = new ScsiIds(plan.settings.scsiController);
    for (const n of live.scsiIds) if (ids.isFree(n)) ids.claim(n, "a live device");
    // A slot recorded for this very disk (e.g. by Ganeti) is reused when the VM has it free.
    const own = recorded.find((h) => h.id === plan.id && "scsi-id" in h);
    if (own && "scsi-id" in own && ids.isFree(own["scsi-id"])) return { bus: "scsi", scsiId: own["scsi-id"] };
    for (const h of recorded) if ("scsi-id" in h && ids.isFree(h["scsi-id"])) ids.claim(h["scsi-id"], h.id);
    return { bus: "scsi", scsiId: ids.next(`disk ${plan.disk.index}`) };
  }
  const slots = new PciSlots(plan.settings.pciReservations);
  for (const n of live.pciSlots) if (slots.isFree(n)) slots.claim(n, "a live device");
  const own = recorded.find((h) => h.id === plan.id && "addr" in h);
  if (own && "addr" in own && slots.isFree(parsePciAddr(own.addr))) return { bus: "pci", slot: parsePciAddr(own.addr) };
  for (const h of recorded) if ("addr" in h && slots.isFree(parsePciAddr(h.addr))) slots.claim(parsePciAddr(h.addr), h.id);
  return { bus: "pci", slot: slots.next(`disk ${plan.disk.index}`) };
}

/** The placement of a device that is already there (a retry, or Ganeti's own hotplug went first). */
async function livePlacement(qmp: QmpClient, plan: AddPlan): Promise<Placement> {
  const path = `/machine/peripheral/${plan.id}`;
  if (diskDevice(plan.settings.diskType).bus === "scsi") {
    return { bus: "scsi", scsiId: await qmp.execute<number>("qom-get", { path, property: "scsi-id" }) };
  }
  return { bus: "pci", slot: (await qmp.execute<number>("qom-get", { path, property: "addr" })) >> 3 };
}

/**
 * blockdev-add, device_add, then a check through query-block's qdev. Any failure undoes what was
 * done, so a retry never meets "Duplicate nodes" and the VM is left as it was.
 */
export async function hotAdd(
  qmp: QmpClient,
  plan: AddPlan,
  recorded: readonly HvInfo[],
  warn: (m: string) => void,
): Promise<RuntimeDiskEntry> {
  const { id, disk, settings } = plan;
  const live = await liveState(qmp, { scsi: diskDevice(settings.diskType).bus === "scsi" });
  const entry = (place: Placement): RuntimeDiskEntry => [
    { ...disk.ganeti, hvinfo: hvinfoFor(settings.diskType, id, place, pciRoot(settings.machine)) },
    disk.link,
    disk.uri,
  ];

  if (live.devices.has(id)) {
    const blk = blockOf(live, id);
    if (blk?.inserted?.["node-name"] === id) {
      warn(`disk ${id} is already attached; recording it`);
      return entry(await livePlacement(qmp, plan));
    }
    if (blk && blk.device !== "") {
      // Ganeti 3.0's own hotplug got there first, with drive_add: the disk is there, just the old way.
      warn(
        `disk ${id} is already attached with a legacy -drive backend ('${blk.device}'); a restart or live migration re-creates it with -blockdev`,
      );
      return entry(await livePlacement(qmp, plan));
    }
    throw new HotplugError(
      "DEVICE_ID_TAKEN",
      `a device with id ${id} exists but is not backed by node ${id}; nothing was changed`,
    );
  }
  if (live.nodes.has(id)) {
    // A node with our name and no device: left by a crash between blockdev-add and device_add.
    try {
      await qmp.execute("blockdev-del", { "node-name": id });
      warn(`removed block node ${id} left behind by an earlier attempt`);
    } catch (e) {
      throw new HotplugError("STALE_NODE", `block node ${id} already exists and is in use (${reason(e)}); nothing was changed`);
    }
  }
  const place = choosePlacement(plan, live, recorded);
  const planned = diskGuestDevice(disk, id, settings, place);
  const rollback = async (why: string): Promise<never> => {
    try {
      await qmp.execute("blockdev-del", { "node-name": id });
    } catch (e) {
      throw new HotplugError("ROLLBACK_FAILED", `${why}; removing block node ${id} again failed too: ${reason(e)}`);
    }
    throw new HotplugError("HOTPLUG_FAILED", `${why}; block node ${id} was removed again, the VM is as it was`);
  };

  try {
    await qmp.execute("blockdev-add", plan.node.props);
  } catch (e) {
    throw new HotplugError("BLOCKDEV_ADD_FAILED", `blockdev-add ${id} failed: ${reason(e)}; nothing was changed`);
  }
  try {
    await qmp.execute("device_add", { driver: planned.device.driver, ...planned.device.props });
  } catch (e) {
    return rollback(`device_add ${id} failed: ${reason(e)}`);
  }
  const blocks = await qmp.execute<LiveState["blocks"]>("query-block");
  if (blockOf({ ...live, blocks }, id)?.inserted?.["node-name"] !== id) {
    throw new HotplugError("VERIFY_FAILED", `device ${id} was added but QEMU does not show node ${id} behind it`);
  }
  return entry(place);
}
