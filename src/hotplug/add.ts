import { diskDevice, hvinfoFor, type Placement, pciRoot, SCSI_CONTROLLER_ID } from "../blockdev/devices.js";
import { diskBlockNode, diskGuestDevice, diskId } from "../blockdev/disk.js";
import type { BlockNode, DiskSpec, QemuCaps, StorageSettings } from "../blockdev/model.js";
import { PciSlots, parsePciAddr, ScsiIds } from "../blockdev/slots.js";
import { HotplugError } from "../errors.js";
import type { HvInfo, RuntimeDiskEntry } from "../generated/common.js";
import type { QmpClient } from "../qmp/client.js";
import { reason } from "../qmp/errors.js";
import {
  blockOf,
  type LiveState,
  liveState,
  peripheralDevices,
  peripheralPath,
  presence,
  queryBlock,
  type Seen,
} from "./live.js";
import { RECONCILE_COMMAND } from "./reconcile.js";
import { onOpenConnection } from "./session.js";

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

/**
 * The new disk's slot on one bus. The live VM's slots are taken; a slot the runtime file records for
 * this very disk (e.g. written by Ganeti) is reused when free; other recorded slots stay free for
 * the disks they belong to.
 */
function freeSlot(slots: PciSlots | ScsiIds, live: Iterable<number>, recorded: [string, number][], plan: AddPlan): number {
  for (const n of live) if (slots.isFree(n)) slots.claim(n, "a live device");
  const own = recorded.find(([id]) => id === plan.id);
  if (own && slots.isFree(own[1])) return own[1];
  for (const [id, n] of recorded) if (slots.isFree(n)) slots.claim(n, id);
  return slots.next(`disk ${plan.disk.index}`);
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
    const ids = recorded.flatMap((h): [string, number][] => ("scsi-id" in h ? [[h.id, h["scsi-id"]]] : []));
    return { bus: "scsi", scsiId: freeSlot(new ScsiIds(plan.settings.scsiController), live.scsiIds, ids, plan) };
  }
  const slots = recorded.flatMap((h): [string, number][] => ("addr" in h ? [[h.id, parsePciAddr(h.addr)]] : []));
  return { bus: "pci", slot: freeSlot(new PciSlots(plan.settings.pciReservations), live.pciSlots, slots, plan) };
}

/** The placement of a device that is already there (a retry, or Ganeti's own hotplug went first). */
async function livePlacement(qmp: QmpClient, plan: AddPlan): Promise<Placement> {
  const path = peripheralPath(plan.id);
  if (diskDevice(plan.settings.diskType).bus === "scsi") {
    return { bus: "scsi", scsiId: await qmp.execute<number>("qom-get", { path, property: "scsi-id" }) };
  }
  return { bus: "pci", slot: (await qmp.execute<number>("qom-get", { path, property: "addr" })) >> 3 };
}

/**
 * blockdev-add, device_add, then a check through query-block's qdev. Each step done is recorded and,
 * on any later failure, undone in reverse (over a new connection, from `reconnect`, when the first
 * one dropped), libvirt's way (qemuBlockStorageSourceAttachRollback):
 * device_del and QEMU's DEVICE_DELETED for it (bounded by `unplugTimeoutMs`), then blockdev-del.
 * The first error is the one reported, with exactly what is left attached when the rollback could
 * not finish; a retry never meets "Duplicate nodes", and reconciling finishes what is left.
 */
export async function hotAdd(
  qmp: QmpClient,
  plan: AddPlan,
  recorded: readonly HvInfo[],
  warn: (m: string) => void,
  unplugTimeoutMs: number,
  reconnect?: () => Promise<QmpClient>,
  seen?: Seen,
): Promise<AddResult> {
  const { id, disk, settings } = plan;
  const live = await liveState(qmp, { scsi: diskDevice(settings.diskType).bus === "scsi" }, seen);
  const entry = (place: Placement): RuntimeDiskEntry => [
    { ...disk.ganeti, hvinfo: hvinfoFor(settings.diskType, id, place, pciRoot(settings.machine)) },
    disk.link,
    disk.uri,
  ];
  if (live.devices.has(id)) return { entry: entry(await alreadyAttached(qmp, plan, live, warn)) };
  if (live.nodes.has(id)) await clearStaleNode(qmp, id, warn);
  const place = choosePlacement(plan, live, recorded);
  const done: Step[] = [];
  try {
    await attach(qmp, plan, place, done);
  } catch (e) {
    // A dropped connection is no reason to leave half a disk: QEMU still runs, and takes another.
    const undone = await onOpenConnection(qmp, reconnect, (q) => rollback(q, id, done, failure(e, id, done), unplugTimeoutMs));
    // A device the guest would not let go of is still the guest's disk: the runtime file says so.
    return undone.leftAttached ? { error: undone.error, entry: entry(place) } : { error: undone.error };
  }
  return { entry: entry(place) };
}

/** A step of the attach that the rollback undoes. */
type Step = "node" | "device";

/**
 * blockdev-add, device_add, then QEMU's word that the device has the node; each step recorded in
 * `done`. The three are sent back to back: QEMU runs one client's commands in order, each after
 * the one before has finished, so device_add meets the node blockdev-add made, and query-block
 * the device. If blockdev-add fails, device_add finds no node of that name (a stale one was
 * cleared before) and fails too; the rollback asks QEMU what is there either way.
 */
async function attach(qmp: QmpClient, plan: AddPlan, place: Placement, done: Step[]): Promise<void> {
  const { id } = plan;
  const planned = diskGuestDevice(plan.disk, id, plan.settings, place);
  const [node, device, blocks] = await Promise.allSettled([
    qmp.execute("blockdev-add", plan.node.props),
    qmp.execute("device_add", { driver: planned.device.driver, ...planned.device.props }),
    queryBlock(qmp),
  ]);
  if (node.status === "rejected") throw node.reason;
  done.push("node");
  if (device.status === "rejected") throw device.reason;
  done.push("device");
  if (blocks.status === "rejected") throw blocks.reason;
  if (blockOf(blocks.value, id)?.inserted?.["node-name"] !== id) {
    throw new HotplugError("VERIFY_FAILED", `device ${id} was added but QEMU does not show node ${id} behind it`);
  }
}

/**
 * The disk's device is there already (a retry, or Ganeti's own hot-add went first): its placement,
 * to record. A device of that id on another node is refused, with nothing changed.
 */
async function alreadyAttached(qmp: QmpClient, plan: AddPlan, live: LiveState, warn: (m: string) => void): Promise<Placement> {
  const { id } = plan;
  const blk = blockOf(live.blocks, id);
  if (blk?.inserted?.["node-name"] === id) {
    warn(`disk ${id} is already attached; recording it`);
    return livePlacement(qmp, plan);
  }
  if (blk && blk.device !== "") {
    // Ganeti 3.0's own hotplug got there first, with drive_add: the disk is there, just the old way.
    warn(
      `disk ${id} is already attached with a legacy -drive backend ('${blk.device}'); a restart or live migration re-creates it with -blockdev`,
    );
    return livePlacement(qmp, plan);
  }
  throw new HotplugError("DEVICE_ID_TAKEN", `a device with id ${id} exists but is not backed by node ${id}; nothing was changed`);
}

/** A node with the disk's name and no device: left by a crash between blockdev-add and device_add. */
async function clearStaleNode(qmp: QmpClient, id: string, warn: (m: string) => void): Promise<void> {
  try {
    await qmp.execute("blockdev-del", { "node-name": id });
    warn(`removed block node ${id} left behind by an earlier attempt`);
  } catch (e) {
    throw new HotplugError("STALE_NODE", `block node ${id} already exists and is in use (${reason(e)}); nothing was changed`);
  }
}

/**
 * A hot-add's outcome: the disk's runtime entry when it is attached (added, found attached, or kept
 * by a guest that would not let go during the rollback), and the error when the add failed.
 */
export type AddResult = { entry: RuntimeDiskEntry; error?: HotplugError } | { entry?: undefined; error: HotplugError };

/** What a rollback leaves: the error to report, saying what is left, and whether the disk stays attached. */
interface Undone {
  error: HotplugError;
  leftAttached: boolean;
}

/**
 * The error a failed step is reported with: its own code, saying which step failed. Any error,
 * ours or not (a reply QEMU never gives can make our own code throw), is reported so, after the
 * rollback: a step done is never left in place because the error was unexpected.
 */
function failure(e: unknown, id: string, done: readonly string[]): HotplugError {
  if (e instanceof HotplugError) return e;
  const step = done.length === 0 ? "blockdev-add" : done.length === 1 ? "device_add" : "the check after device_add";
  const code = done.length === 0 ? "BLOCKDEV_ADD_FAILED" : done.length === 1 ? "DEVICE_ADD_FAILED" : "VERIFY_FAILED";
  return new HotplugError(code, `${step} ${id} failed: ${reason(e)}`);
}

/**
 * Undoes the recorded steps in reverse and returns the error to report: the first one, extended by
 * what the rollback did or could not do. QEMU gone means nothing is left to undo.
 */
async function rollback(
  qmp: QmpClient,
  id: string,
  done: readonly Step[],
  first: HotplugError,
  unplugTimeoutMs: number,
): Promise<Undone> {
  const say = (tail: string, leftAttached = false): Undone => ({
    error: new HotplugError(first.code, `${first.message}; ${tail}`),
    leftAttached,
  });
  if (qmp.closed) {
    return say(
      `the connection to QEMU is gone, so nothing could be undone: block node ${id}${done.length > 1 ? ` and device ${id}` : ""} may be left (if QEMU still runs, the instance's next disk-add or disk-remove, or '${RECONCILE_COMMAND}', removes what no device uses)`,
    );
  }
  // A step whose answer never came may have happened all the same: QEMU says what is there.
  const live = await presence(qmp).catch(() => undefined);
  const steps = new Set(done);
  if (live?.nodes.has(id)) steps.add("node");
  if (live?.devices.has(id)) steps.add("device");
  if (steps.size === 0) return say("nothing was changed");
  if (steps.has("device")) {
    const stuck = await unplugDevice(qmp, id, unplugTimeoutMs);
    if (stuck !== undefined) {
      return say(
        `rolling back, device ${id} could not be unplugged (${stuck}): device ${id} and block node ${id} stay attached, QEMU keeps the unplug pending; once the guest lets go, the instance's next disk-add or disk-remove, or '${RECONCILE_COMMAND}', deletes them`,
        true,
      );
    }
  }
  try {
    await qmp.execute("blockdev-del", { "node-name": id });
  } catch (e) {
    return say(
      `rolling back, block node ${id} could not be deleted (${reason(e)}): it stays; the instance's next disk-add or disk-remove, or '${RECONCILE_COMMAND}', deletes it`,
    );
  }
  return say(
    steps.has("device")
      ? `device ${id} and block node ${id} were removed again, the VM is as it was`
      : `block node ${id} was removed again, the VM is as it was`,
  );
}

/**
 * device_del and QEMU's DEVICE_DELETED for it, within `unplugTimeoutMs`: undefined once the device
 * is gone, else why it is still there.
 */
async function unplugDevice(qmp: QmpClient, id: string, unplugTimeoutMs: number): Promise<string | undefined> {
  const events = qmp.listen({ names: ["DEVICE_DELETED"], data: { device: id } });
  try {
    await qmp.execute("device_del", { id });
    await events.next(unplugTimeoutMs);
    return undefined;
  } catch (e) {
    return (await deviceGone(qmp, id)) ? undefined : reason(e);
  } finally {
    events.close();
  }
}

/** Whether a device is gone from QEMU, asked again rather than trusted to an event (it may have come before we listened). */
async function deviceGone(qmp: QmpClient, id: string): Promise<boolean> {
  try {
    return !(await peripheralDevices(qmp)).has(id);
  } catch {
    return false;
  }
}
