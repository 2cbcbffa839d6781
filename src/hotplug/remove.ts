import { fileNodeName } from "../blockdev/ids.js";
import { HotplugError } from "../errors.js";
import type { QmpClient } from "../qmp/client.js";
import { QmpCommandError, QmpTimeoutError, reason } from "../qmp/errors.js";
import { blockOf, peripheralDevices, presence, queryBlock } from "./live.js";
import { RECONCILE_COMMAND } from "./reconcile.js";

/**
 * A hot-remove whose device is gone from the guest: the runtime file loses the disk's entry. The
 * error says what is left when the rest failed (the block node, or a double check that finds it).
 */
export interface Removed {
  error?: HotplugError;
}

/** QEMU's DEVICE_DELETED for the device, or, after the timeout, QEMU's word that it is gone all the same. */
async function waitUnplugged(
  qmp: QmpClient,
  events: ReturnType<QmpClient["listen"]>,
  instance: string,
  id: string,
  unplugTimeoutMs: number,
): Promise<void> {
  let ev: Awaited<ReturnType<typeof events.next>>;
  try {
    ev = await events.next(unplugTimeoutMs);
  } catch (e) {
    if (!(e instanceof QmpTimeoutError)) throw e;
    if (!(await peripheralDevices(qmp)).has(id)) return;
    throw new HotplugError(
      "UNPLUG_TIMEOUT",
      `the guest did not release ${id} within ${unplugTimeoutMs / 1000} s (no ACPI hot-plug support, paused, or busy?); the disk stays attached and recorded; QEMU keeps the unplug pending: once the guest lets go, '${RECONCILE_COMMAND} ${instance}' on this node (or the instance's next disk-add or disk-remove) finishes the job`,
    );
  }
  if (ev.event === "DEVICE_UNPLUG_GUEST_ERROR") {
    throw new HotplugError("GUEST_REFUSED", `the guest refused to release ${id}; the disk stays attached`);
  }
}

/**
 * device_del, wait for the guest to let go (DEVICE_DELETED for our id), then blockdev-del and a
 * check that both are gone. If the guest does not let go in time the disk stays attached, and a
 * later call finishes the job: QEMU keeps the unplug request pending. It throws while the device
 * is still the guest's (nothing for the runtime file to follow), and returns once it is gone.
 */
export async function hotRemove(
  qmp: QmpClient,
  instance: string,
  id: string,
  unplugTimeoutMs: number,
  warn: (m: string) => void,
): Promise<Removed> {
  const present = await removable(qmp, id);
  if (present) await unplug(qmp, instance, id, unplugTimeoutMs, warn);
  try {
    await qmp.execute("blockdev-del", { "node-name": id });
  } catch (e) {
    if (!(e instanceof QmpCommandError && /Failed to find node/.test(e.desc))) {
      return {
        error: new HotplugError(
          "BLOCKDEV_DEL_FAILED",
          `the device is gone from the guest, but block node ${id} is left (blockdev-del failed: ${reason(e)}); the instance's next disk-add or disk-remove, or '${RECONCILE_COMMAND} ${instance}' on this node, deletes it`,
        ),
      };
    }
  }
  await checkGone(qmp, instance, id, warn);
  return {};
}

/**
 * Whether the guest has the device; a disk attached the legacy -drive way is refused, with nothing
 * changed. Only what removal needs is asked.
 */
async function removable(qmp: QmpClient, id: string): Promise<boolean> {
  const [devices, blocks] = await Promise.all([peripheralDevices(qmp), queryBlock(qmp)]);
  const blk = blockOf(blocks, id);
  if (blk && blk.device !== "") {
    throw new HotplugError(
      "LEGACY_DRIVE",
      `disk ${id} was attached with -drive by an older Ganeti (drive '${blk.device}'); restart or live-migrate the instance first so that it is re-created with -blockdev; nothing was changed`,
    );
  }
  return devices.has(id);
}

/** device_del, then the guest's release (or QEMU's word that the device is gone). */
async function unplug(qmp: QmpClient, instance: string, id: string, unplugTimeoutMs: number, warn: (m: string) => void) {
  // Registered before device_del: SCSI unplugs synchronously and the event can precede the reply.
  const events = qmp.listen({ names: ["DEVICE_DELETED", "DEVICE_UNPLUG_GUEST_ERROR"], data: { device: id } });
  try {
    try {
      await qmp.execute("device_del", { id });
    } catch (e) {
      if (e instanceof QmpCommandError && /already in the process of unplug/.test(e.desc)) {
        warn(`an unplug of ${id} was already pending; waiting for the guest again`);
      } else if (e instanceof QmpCommandError && e.qmpClass === "DeviceNotFound") {
        // Gone between our look and device_del (Ganeti's own unplug finished): its DEVICE_DELETED
        // came before we listened. QEMU's word is checked, not assumed.
        if (!(await peripheralDevices(qmp)).has(id)) return;
      } else {
        throw new HotplugError("DEVICE_DEL_FAILED", `device_del ${id} failed: ${reason(e)}; the disk stays attached`);
      }
    }
    await waitUnplugged(qmp, events, instance, id, unplugTimeoutMs);
  } finally {
    events.close();
  }
}

/**
 * A double check: DEVICE_DELETED and a successful blockdev-del already say both are gone, so a
 * check that cannot be asked (QMP failing now) does not undo what QEMU confirmed.
 */
async function checkGone(qmp: QmpClient, instance: string, id: string, warn: (m: string) => void): Promise<void> {
  const after = await presence(qmp).catch((e: unknown) => {
    warn(`could not double-check that ${id} is gone (${reason(e)}); QEMU had confirmed both steps`);
    return undefined;
  });
  if (after && (after.devices.has(id) || after.nodes.has(id) || after.nodes.has(fileNodeName(id)))) {
    throw new HotplugError(
      "VERIFY_FAILED",
      `${id} is still present after removal; '${RECONCILE_COMMAND} ${instance}' on this node finishes the job once it can`,
    );
  }
}
