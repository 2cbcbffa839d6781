import type { BlockNode } from "../blockdev/model.js";
import { HotplugError } from "../errors.js";
import type { QmpClient } from "../qmp/client.js";
import { reason } from "../qmp/errors.js";
import { blockOf, peripheralPath, queryBlock } from "./live.js";

export type MediumResult = "changed" | "ejected" | "no tray";

/**
 * Changes (or, with no `next`, ejects) the medium of a CD-ROM drive, libvirt's way with the blockdev
 * API: the new medium's node first (a file that cannot be opened changes nothing), then
 * blockdev-open-tray (forced), blockdev-remove-medium, blockdev-insert-medium, blockdev-close-tray,
 * and the old medium's node deleted last. A failure after the tray opened puts the old medium back.
 * A virtio-blk CD-ROM has no tray: nothing is touched, and the caller says so.
 */
export async function changeMedium(
  qmp: QmpClient,
  id: string,
  next: BlockNode | undefined,
  warn: (m: string) => void,
): Promise<MediumResult> {
  const type = await qmp.execute<string>("qom-get", { path: peripheralPath(id), property: "type" }).catch(() => undefined);
  if (type === undefined) {
    throw new HotplugError(
      "NO_CDROM_DEVICE",
      `the instance has no device ${id} (not started through the plugin?); the new image takes effect at its next start`,
    );
  }
  if (type === "virtio-blk-pci") return "no tray";
  const old = blockOf(await queryBlock(qmp), id)?.inserted?.["node-name"];
  if (next) {
    try {
      await qmp.execute("blockdev-add", next.props);
    } catch (e) {
      throw new HotplugError(
        "MEDIUM_OPEN_FAILED",
        `the new medium cannot be opened (${reason(e)}); the old medium stays inserted`,
      );
    }
  }
  const dropNext = async () => {
    if (next) await qmp.execute("blockdev-del", { "node-name": next.nodeName }).catch(() => undefined);
  };
  try {
    await qmp.execute("blockdev-open-tray", { id, force: true });
    if (old) await qmp.execute("blockdev-remove-medium", { id });
    if (next) await qmp.execute("blockdev-insert-medium", { id, "node-name": next.nodeName });
    await qmp.execute("blockdev-close-tray", { id });
  } catch (e) {
    // Put the old medium back, close the tray, forget the new node: the drive is as it was.
    const inNow = blockOf(await queryBlock(qmp).catch(() => []), id)?.inserted?.["node-name"];
    if (inNow !== old && old) {
      if (inNow) await qmp.execute("blockdev-remove-medium", { id }).catch(() => undefined);
      await qmp.execute("blockdev-insert-medium", { id, "node-name": old }).catch(() => undefined);
    }
    await qmp.execute("blockdev-close-tray", { id }).catch(() => undefined);
    await dropNext();
    throw new HotplugError(
      "MEDIUM_CHANGE_FAILED",
      `changing the medium of ${id} failed (${reason(e)}); the old medium is back in`,
    );
  }
  if (old) {
    await qmp.execute("blockdev-del", { "node-name": old }).catch((e: unknown) => {
      warn(`the old medium's node ${old} could not be deleted (${reason(e)}); it stays until the instance restarts`);
    });
  }
  return next ? "changed" : "ejected";
}
