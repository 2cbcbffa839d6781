import { isHotpluggable } from "../../blockdev/devices.js";
import { checkIoUring } from "../../blockdev/disk.js";
import type { QemuCaps } from "../../blockdev/model.js";
import { backendPath, hasLimits, qosPolicy, type ThrottleTarget, throttleTargets } from "../../blockdev/qos.js";
import { HotplugError, InputError } from "../../errors.js";
import { instanceDiskPaths } from "../../ganeti/env.js";
import { keepsDiscardDefault, withDiscardMended, withDisk } from "../../ganeti/runtime.js";
import { ganetiHotplugsByDefault } from "../../host/ganeti-release.js";
import type { QmpClient } from "../../qmp/client.js";
import { applyThrottles, runningLimits } from "../../qos/running.js";
import { type AddPlan, hotAdd, planAdd } from "../add.js";
import { startedSettings } from "../context.js";
import { settleDiskLink } from "../disk-link.js";
import { blockOf, hostCaps, liveCaps } from "../live.js";
import type { Change, HotplugOperation } from "../operation.js";
import { disksToAdd, entryOf } from "../request.js";

interface DiskToAdd extends Change {
  plan: AddPlan;
  /** The running QEMU's capabilities, read once per run (only for io_uring), by the first disk. */
  caps: { live?: Promise<QemuCaps> };
  /** Ganeti 3.1 hot-plugs the disk itself, unless told not to (--no-hotplug). */
  ganetiAttaches: boolean;
  /** The disk's I/O limits from the instance's disk-qos: tags, set once it is attached. */
  throttle: ThrottleTarget;
  /** Attached (and recorded) by Ganeti 3.1 itself: only its limits are the hook's to set. */
  throttleOnly?: true;
}

/**
 * Sets a hot-added disk's I/O limits (one block_set_io_throttle, at once after device_add). A
 * failure leaves the disk attached, and fails the change with what to do.
 */
async function limitAdded(qmp: QmpClient, t: ThrottleTarget): Promise<{ error?: HotplugError; logged: string[] }> {
  if (!hasLimits(t.limits)) return { logged: [] };
  try {
    return { logged: (await applyThrottles(qmp, [t])).map((l) => `I/O limits: ${l}`) };
  } catch (e) {
    const error = new HotplugError(
      "QOS_NOT_APPLIED",
      `disk/${t.index} is attached, without the I/O limits of its disk-qos: tags (${(e as Error).message}); run ganeti-qemu-blockdev qos`,
    );
    return { error, logged: [] };
  }
}

/**
 * disk-add: blockdev-add + device_add of the disks Ganeti added, configured like the instance's
 * other disks (the hvparams it was started with), with the rollback of add.ts.
 */
export const DISK_ADD: HotplugOperation<DiskToAdd> = {
  verb: "hotplug",

  // Everything decidable without the VM is decided here: bad input never reaches QEMU. What only
  // the running QEMU can say (its version, io_uring in its build) is checked again in apply.
  select(ctx) {
    const disks = disksToAdd(ctx.env, ctx.input, ctx.paths);
    const settings = startedSettings(ctx);
    if ("none" in disks) return disks;
    if (!isHotpluggable(settings.diskType)) {
      throw new InputError(
        "NOT_HOTPLUGGABLE",
        `disk_type=${settings.diskType} cannot be hot-plugged (QEMU's IDE buses are not hot-pluggable); nothing was sent`,
      );
    }
    const caps = {};
    const ganetiAttaches = ganetiHotplugsByDefault(process.env);
    // A malformed disk-qos: tag is invalid input like any other: nothing is sent.
    const policy = qosPolicy((ctx.env.post ?? ctx.env.pre).tags);
    return disks.map((d) => {
      const plan = planAdd(d, settings, hostCaps(), ctx.warn);
      const [throttle] = throttleTargets(policy, [{ index: d.index, id: plan.id }]) as [ThrottleTarget];
      return { label: `disk/${d.index}` as const, plan, caps, ganetiAttaches, throttle };
    });
  },

  reconcileFirst: (changes) => new Set(changes.map((c) => c.plan.disk.uuid)),

  // Ganeti 3.1 attached the disk itself, or was told not to (--no-hotplug): the hook attaches
  // nothing, and only records what Ganeti attached without recording it (its SCSI hot-add).
  async prepare(ctx, change, view) {
    const { plan } = change;
    if (change.ganetiAttaches) {
      // What QEMU has and what the runtime file records, both under the run's lock, so that no
      // other hook's write falls between them.
      const attached = blockOf((await view.seen()).blocks, plan.id)?.inserted?.["node-name"] === plan.id;
      const current = view.doc();
      const recorded = entryOf(current, plan.disk.uuid) !== undefined;
      // On a runtime file 3.0 wrote, 3.1's own hot-add fails (disk_discard=default): the hook does it.
      if (!attached && keepsDiscardDefault(current)) {
        ctx.warn("Ganeti 3.1 cannot hot-plug on this runtime file from Ganeti 3.0 (disk_discard=default); the hook does it");
      } else if (!attached) {
        return {
          skip: `Ganeti did not hot-plug disk/${plan.disk.index} (--no-hotplug, or its own hot-add failed): it is attached at the instance's next start`,
        };
      }
      // Ganeti's own hot-add, done and recorded: nothing to add, and only its limits to set.
      if (recorded) return hasLimits(change.throttle.limits) ? { ...change, throttleOnly: true as const } : { skip: undefined };
    }
    const { disk } = plan;
    if (disk.path !== undefined && disk.path !== disk.link) {
      settleDiskLink(disk.link, disk.path, ctx.warn, instanceDiskPaths(ctx.env));
    }
    return change;
  },

  async apply(ctx, { plan, caps, ganetiAttaches, throttle, throttleOnly }, { qmp, reconnect, doc, seen }) {
    if (throttleOnly) {
      const lines = await applyThrottles(qmp, [throttle], await runningLimits(qmp));
      return { logged: lines.map((l) => `I/O limits: ${l}`) };
    }
    // The plan, made once in select, assumed QEMU able; only io_uring depends on what it is.
    if (plan.settings.aio === "io_uring") {
      caps.live ??= liveCaps(qmp, true);
      checkIoUring(plan.disk, plan.settings, await caps.live);
    }
    // The slots the runtime file records, read under the lock: a disk's own is given back to it.
    const recorded = (doc()?.[3] ?? []).flatMap((e) => (e[0].hvinfo ? [e[0].hvinfo] : []));
    const { entry, error } = await hotAdd(qmp, plan, recorded, ctx.warn, ctx.unplugTimeoutMs, reconnect, await seen());
    if (!entry) return { error };
    const limited = await limitAdded(qmp, { ...throttle, qdev: backendPath(plan.id, entry[0].hvinfo?.driver ?? "") });
    // Under 3.1, disk_discard mended too, so that Ganeti's next hot-add works (see keepsDiscardDefault).
    return {
      error: error ?? limited.error,
      logged: limited.logged,
      disk: entry,
      runtime: (d) => (ganetiAttaches ? withDiscardMended(withDisk(d, entry)) : withDisk(d, entry)),
    };
  },
};
