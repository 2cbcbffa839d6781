import { cdromId } from "../../blockdev/ids.js";
import { cdromNode } from "../../blockdev/instance.js";
import type { BlockNode } from "../../blockdev/model.js";
import { isHttpUrl } from "../../blockdev/protocols.js";
import { HotplugError } from "../../errors.js";
import { checkCurlModule, checkRangeSupport } from "../../host/media-checks.js";
import { pathKind } from "../../host/path-kind.js";
import { shortHash } from "../../util/hash.js";
import { changeMedium } from "../medium.js";
import type { Change, HotplugOperation } from "../operation.js";
import { type MediumChange, mediumChanges } from "../request.js";

interface CdromChange extends Change {
  change: MediumChange;
}

/** cdrom-change: the new medium's node, then the tray steps of medium.ts. */
export const CDROM_CHANGE: HotplugOperation<CdromChange, CdromChange & { next: BlockNode | undefined }> = {
  verb: "medium",

  select(ctx) {
    const changes = mediumChanges(ctx.env);
    return "none" in changes ? changes : changes.map((change) => ({ label: `cdrom/${change.drive}` as const, change }));
  },

  // Checked before anything is sent: a medium QEMU could not open leaves the old one in.
  async prepare(_ctx, c) {
    const { key, drive, image } = c.change;
    const kind = image === "" || isHttpUrl(image) ? undefined : pathKind(image);
    if (isHttpUrl(image)) {
      checkCurlModule();
      await checkRangeSupport(image);
    } else if (image !== "" && !kind) {
      throw new HotplugError("MEDIUM_MISSING", `${key}=${image} does not exist on this node; the old medium stays inserted`);
    }
    // A name of its own, so that it never meets the old medium's node while both exist.
    const id = cdromId(drive);
    const next = image === "" ? undefined : cdromNode(`${id}-${shortHash(`${image}\0${Date.now()}`).slice(0, 8)}`, image, kind);
    return { ...c, next };
  },

  async apply(ctx, { change: { key, drive, image }, next }, { qmp, reconnect }) {
    const id = cdromId(drive);
    const started = ctx.runtime?.[2] ?? ctx.env.pre.hv;
    const startedCdroms = { cdrom1: Boolean(started["cdrom_image_path"]), cdrom2: Boolean(started["cdrom2_image_path"]) };
    const result = await changeMedium(qmp, id, next, ctx.warn, startedCdroms, reconnect);
    if (result === "no drive") ctx.warn(`the instance was started without ${id}: ${key}=${image} takes effect at its next start`);
    if (result === "no tray") {
      ctx.warn(`${id} is a virtio-blk CD-ROM, which has no tray: ${key}=${image} takes effect at the instance's next start`);
    }
    return {};
  },
};
