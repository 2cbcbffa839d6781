import { withoutDisk } from "../../ganeti/runtime.js";
import type { Change, HotplugOperation } from "../operation.js";
import { hotRemove } from "../remove.js";
import { disksToRemove, type Removal } from "../request.js";

interface DiskToRemove extends Change {
  removal: Removal;
}

/** disk-remove: device_del, the guest's release, blockdev-del (remove.ts). */
export const DISK_REMOVE: HotplugOperation<DiskToRemove> = {
  verb: "hotplug",

  select(ctx) {
    const removals = disksToRemove(ctx.env, ctx.input, ctx.runtime);
    return "none" in removals ? removals : removals.map((removal) => ({ label: `disk/${removal.index}` as const, removal }));
  },

  reconcileFirst: () => new Set(),

  prepare: (_ctx, change) => change,

  // The disk leaves the runtime file once the guest no longer has it, even with its node left.
  async apply(ctx, { removal }, { qmp, seen }) {
    const { error } = await hotRemove(qmp, ctx.name, removal.id, ctx.unplugTimeoutMs, ctx.warn, await seen());
    return { error, runtime: (doc) => withoutDisk(doc, removal.uuid) };
  },
};
