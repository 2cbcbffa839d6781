import { deviceIdOf } from "../../blockdev/ids.js";
import { withDisk } from "../../ganeti/runtime.js";
import type { RuntimeDiskEntry } from "../../generated/common.js";
import { backingSize } from "../../host/backing-size.js";
import { hotGrow } from "../grow.js";
import type { Change, HotplugOperation } from "../operation.js";
import { diskToGrow, entryOf, type Growth } from "../request.js";

interface DiskToGrow extends Change {
  growth: Growth;
}

const MIB = 1024 * 1024;

/** disk-grow: block_resize to the size the disk's backing store has now (grow.ts). */
export const DISK_GROW: HotplugOperation<DiskToGrow, DiskToGrow & { bytes: number }> = {
  verb: "grow",

  select(ctx) {
    const growth = diskToGrow(ctx.env, ctx.input, ctx.paths);
    return "none" in growth ? growth : [{ label: `disk/${growth.index}`, growth }];
  },

  // Read from the host, never worked out from Ganeti's numbers.
  prepare: (_ctx, change) => ({ ...change, bytes: backingSize(change.growth.path) }),

  async apply(ctx, { growth, bytes }, { qmp, doc }) {
    const old = entryOf(doc(), growth.uuid);
    const grown = await hotGrow(qmp, deviceIdOf(growth.uuid, old?.[0].hvinfo), bytes);
    if (grown.from === grown.to) ctx.warn(`disk/${growth.index} already has ${bytes} bytes in QEMU; nothing to tell it`);
    if (!old) return {};
    // The runtime entry with the size the disk has now, in MiB as Ganeti keeps it.
    const entry: RuntimeDiskEntry = [{ ...old[0], size: Math.floor(bytes / MIB) }, old[1], old[2]];
    return { disk: entry, runtime: (d) => withDisk(d, entry) };
  },
};
