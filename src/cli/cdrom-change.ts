import { cdromNode } from "../blockdev/instance.js";
import { isHttpUrl } from "../blockdev/protocols.js";
import { HotplugError } from "../errors.js";
import { checkCurlModule, checkRangeSupport } from "../host/media-checks.js";
import { pathKind } from "../host/path-kind.js";
import { changeMedium } from "../hotplug/medium.js";
import { withInstance } from "../hotplug/session.js";
import { shortHash } from "../util/hash.js";
import { runHook, say } from "./hook.js";
import { HOTPLUG_FLAGS, hotplugContext, reportChange } from "./hotplug.js";

const SUMMARY = `Usage: $0 [options]

Changes a running instance's CD-ROM medium when gnt-instance modify -H cdrom_image_path=...
(or cdrom2_image_path) changed it: the new medium's node (read-only raw over a file, a block
device, or an HTTP(S) URL checked as at instance-start), then blockdev-open-tray (forced),
blockdev-remove-medium, blockdev-insert-medium, blockdev-close-tray, and the old medium's node
deleted. An empty new value ejects the medium. If the new image cannot be opened, the old medium
stays inserted. IDE and SCSI CD-ROMs have a tray; a virtio-blk CD-ROM has none: a note says the
change takes effect at the next start, and nothing is touched.

For the instance-modify hook's post phase (the pre view has the old hvparams, the GANETI_POST_ view
the new ones). It acts only where the instance's QMP socket exists; elsewhere it exits 0 with a note.

Output (stdout), one line per changed drive: {"change": ["cdrom/<n>", "medium:done"|"medium:failed"],
"error": {...}, "warnings": [...]}.

Exit status: 0 done (or nothing to do); 1 failed; 2 invalid input (nothing sent to QEMU).`;

const DRIVES = [
  ["cdrom_image_path", 1],
  ["cdrom2_image_path", 2],
] as const;

void runHook("cdrom-change", SUMMARY, HOTPLUG_FLAGS, async (args) => {
  const ctx = hotplugContext("cdrom-change", args);
  if (!ctx) return 0;
  const post = ctx.env.post;
  if (!post) {
    say("cdrom-change", "note", "the environment names no change (Ganeti exports it in the post phase only); nothing to do");
    return 0;
  }
  const changes = DRIVES.filter(([k]) => (ctx.env.pre.hv[k] ?? "") !== (post.hv[k] ?? ""));
  if (changes.length === 0) {
    say("cdrom-change", "note", "no CD-ROM image changed; nothing to do");
    return 0;
  }
  let status: 0 | 1 = 0;
  for (const [key, n] of changes) {
    const id = `cdrom${n}` as const;
    const image = post.hv[key] ?? "";
    const rc = await reportChange(
      "cdrom-change",
      `cdrom/${n}`,
      ctx.warnings,
      async () => {
        // Checked before anything is sent: a medium QEMU could not open leaves the old one in.
        const kind = image === "" || isHttpUrl(image) ? undefined : pathKind(image);
        if (isHttpUrl(image)) {
          checkCurlModule();
          await checkRangeSupport(image);
        } else if (image !== "" && !kind) {
          throw new HotplugError("MEDIUM_MISSING", `${key}=${image} does not exist on this node; the old medium stays inserted`);
        }
        // A name of its own, so that it never meets the old medium's node while both exist.
        const next =
          image === "" ? undefined : cdromNode(`${id}-${shortHash(`${image}\0${Date.now()}`).slice(0, 8)}`, image, kind);
        const started = ctx.runtime?.[2] ?? ctx.env.pre.hv;
        const startedCdroms = { cdrom1: Boolean(started["cdrom_image_path"]), cdrom2: Boolean(started["cdrom2_image_path"]) };
        const result = await withInstance(ctx.name, ctx.session, (qmp, reconnect) =>
          changeMedium(qmp, id, next, ctx.warn, startedCdroms, reconnect),
        );
        if (result === "no drive") {
          ctx.warn(`the instance was started without ${id}: ${key}=${image} takes effect at its next start`);
        }
        if (result === "no tray") {
          ctx.warn(`${id} is a virtio-blk CD-ROM, which has no tray: ${key}=${image} takes effect at the instance's next start`);
        }
        return {};
      },
      "medium",
    );
    status = rc === 1 ? 1 : status;
  }
  return status;
});
