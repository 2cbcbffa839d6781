import { fileNodeName } from "../blockdev/ids.js";
import { HotplugError } from "../errors.js";
import type { QmpClient } from "../qmp/client.js";
import { QmpCommandError, QmpTimeoutError, reason } from "../qmp/errors.js";
import { blockOf, look, peripheralDevices, presence, type Seen } from "./live.js";
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
): Promise<Unplugged> {
  let ev: Awaited<ReturnType<typeof events.next>>;
  try {
    ev = await events.next(unplugTimeoutMs);
  } catch (e) {
    if (!(e instanceof QmpTimeoutError)) throw e;
    if (!(await peripheralDevices(qmp)).has(id)) return "gone";
    throw new HotplugError(
      "UNPLUG_TIMEOUT",
      `the guest did not release ${id} within ${unplugTimeoutMs / 1000} s (no ACPI hot-plug support, paused, or busy?); the disk stays attached and recorded; QEMU keeps the unplug pending: once the guest lets go, '${RECONCILE_COMMAND} ${instance}' on this node (or the instance's next disk-add or disk-remove) finishes the job`,
    );
  }
  if (ev.event === "DEVICE_UNPLUG_GUEST_ERROR") {
    throw new HotplugError("GUEST_REFUSED", `the guest refused to release ${id}; the disk stays attached`);
  }
  return "confirmed";
}

/** How a device left: QEMU's DEVICE_DELETED for it, or found gone when asked. */
type Unplugged = "confirmed" | "gone";

/**
 * device_del, wait for the guest to let go (DEVICE_DELETED for our id), then blockdev-del. If the
 * guest does not let go in time the disk stays attached, and a later call finishes the job: QEMU
 * keeps the unplug request pending. It throws while the device is still the guest's (nothing for
 * the runtime file to follow), and returns once it is gone. Only a removal QEMU did not confirm at
 * both steps is checked again: DEVICE_DELETED and a successful blockdev-del already say both are
 * gone. `seen` is a look taken earlier in the same run, still true.
 */
export async function hotRemove(
  qmp: QmpClient,
  instance: string,
  id: string,
  unplugTimeoutMs: number,
  warn: (m: string) => void,
  seen?: Seen,
): Promise<Removed> {
  const present = await removable(seen ?? (await look(qmp)), id);
  const unplugged: Unplugged = present ? await unplug(qmp, instance, id, unplugTimeoutMs, warn) : "gone";
  let deleted = true;
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
    deleted = false;
  }
  if (unplugged !== "confirmed" || !deleted) await checkGone(qmp, instance, id, warn);
  return {};
}

/**
 * Whether the guest has the device; a disk attached the legacy -drive way is refused, with nothing
 * changed.
 */
function removable(seen: Seen, id: string): boolean {
  const blk = blockOf(seen.blocks, id);
  if (blk && blk.device !== "") {
    throw new HotplugError(
      "LEGACY_DRIVE",
      `disk ${id} was attached with -drive by an older Ganeti (drive '${blk.device}'); restart or live-migrate the instance first so that it is re-created with -blockdev; nothing was changed`,
    );
  }
  return seen.devices.has(id);
}

/** device_del, then the guest's release (or QEMU's word that the device is gone). */
async function unplug(
  qmp: QmpClient,
  instance: string,
  id: string,
  unplugTimeoutMs: number,
  warn: (m: string) => void,
): Promise<Unplugged> {
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
        if (!(await peripheralDevices(qmp)).has(id)) return "gone";
      } else {
        throw new HotplugError("DEVICE_DEL_FAILED", `device_del ${id} failed: ${reason(e)}; the disk stays attached`);
      }
    }
    return await waitUnplugged(qmp, events, instance, id, unplugTimeoutMs);
  } finally {
    events.close();
  }
}

/**
 * A double check, of a removal QEMU did not confirm at both steps. One that cannot be asked (QMP
 * failing now) does not undo what QEMU said.
 */
async function checkGone(qmp: QmpClient, instance: string, id: string, warn: (m: string) => void): Promise<void> {
  const after = await presence(qmp).catch((e: unknown) => {
    warn(`could not double-check that ${id} is gone (${reason(e)}); QEMU had answered both steps`);
    return undefined;
  });
  if (after && (after.devices.has(id) || after.nodes.has(id) || after.nodes.has(fileNodeName(id)))) {
    throw new HotplugError(
      "VERIFY_FAILED",
      `${id} is still present after removal; '${RECONCILE_COMMAND} ${instance}' on this node finishes the job once it can`,
    );
  }
}
