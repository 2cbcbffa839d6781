import { HotplugError } from "../errors.js";
import type { QmpClient } from "../qmp/client.js";
import { blockOf, queryBlock } from "./live.js";

export interface Grown {
  from: number;
  to: number;
}

/**
 * Tells QEMU a disk's new size: block_resize by node name for a -blockdev disk, by device for a
 * legacy -drive one (Ganeti 3.0 starts and hot-adds those). Never shrinks: a backing store smaller
 * than what QEMU has is refused, with both sizes named. Checked afterwards through query-block.
 */
export async function hotGrow(qmp: QmpClient, id: string, bytes: number): Promise<Grown> {
  const blk = blockOf(await queryBlock(qmp), id);
  const current = blk?.inserted?.image?.["virtual-size"];
  if (!blk?.inserted || current === undefined) {
    throw new HotplugError("NOT_ATTACHED", `disk ${id} is not attached to the VM; nothing was changed`);
  }
  if (bytes < current) {
    throw new HotplugError(
      "WOULD_SHRINK",
      `the disk's backing store has ${bytes} bytes, fewer than the ${current} QEMU gives the guest; disks are never shrunk, nothing was changed`,
    );
  }
  if (bytes === current) return { from: current, to: current };
  await qmp.execute("block_resize", blk.device !== "" ? { device: blk.device, size: bytes } : { "node-name": id, size: bytes });
  const now = blockOf(await queryBlock(qmp), id)?.inserted?.image?.["virtual-size"];
  if (now !== bytes)
    throw new HotplugError("VERIFY_FAILED", `block_resize ${id} to ${bytes} bytes was answered, but QEMU shows ${now}`);
  return { from: current, to: bytes };
}
