import { deviceIdOf } from "../blockdev/ids.js";
import { InputError } from "../errors.js";
import { diskLink } from "../ganeti/paths.js";
import { withDisk } from "../ganeti/runtime.js";
import type { RuntimeDiskEntry } from "../generated/common.js";
import { backingSize } from "../host/backing-size.js";
import { hotGrow } from "../hotplug/grow.js";
import { diskPathOf, jsonDiskIndex } from "../hotplug/request.js";
import { currentRuntime, updateRuntime } from "../hotplug/runtime-file.js";
import { withInstance } from "../hotplug/session.js";
import { runHook, say } from "./hook.js";
import { HOTPLUG_FLAGS, hotplugContext, reportChange } from "./hotplug.js";

const SUMMARY = `Usage: $0 [options] [< input.json]

Tells a running instance's QEMU that one of its disks grew (gnt-instance grow-disk grows the image
or volume, and Ganeti never tells QEMU): QMP block_resize to the size the disk's backing file or
device has now, read from the host (stat, or sysfs for block devices), never worked out from
Ganeti's numbers. By node name for -blockdev disks, by device for a legacy -drive disk. A disk is
never shrunk. The runtime file's entry gets the new size.

Which disk: GANETI_DISK in the disk-grow hook's post phase (its path from the environment, as
disk-add takes it), or the JSON payload {"disk": Disk.ToDict(), "index": n, "runtime": [...]}.
It acts only where the instance's QMP socket exists; elsewhere it exits 0 with a note.

Output (stdout): {"change": ["disk/<n>", "grow:done"|"grow:failed"], "disk": [entry with the new
size], "error": {...}, "warnings": [...]}.

Exit status: 0 done (or nothing to do); 1 failed, including anything the live VM refuses; 2
invalid input (nothing sent to QEMU).`;

const MIB = 1024 * 1024;

void runHook("disk-grow", SUMMARY, HOTPLUG_FLAGS, async (args) => {
  const ctx = hotplugContext("disk-grow", args);
  if (!ctx) return 0;
  const view = ctx.env.post;
  let index: number;
  let uuid: string;
  let path: string;
  if (ctx.input?.disk) {
    const disk = ctx.input.disk;
    uuid = disk.uuid.toLowerCase();
    const listed = view?.disks.find((d) => d.uuid === uuid);
    index = jsonDiskIndex(ctx.input, listed?.index);
    path = diskPathOf(disk, listed) ?? ctx.input.link ?? diskLink(ctx.paths, ctx.name, index);
  } else {
    if (!view) {
      say(
        "disk-grow",
        "note",
        "the environment names no grown disk (Ganeti's disk-grow hook has it in the post phase); nothing to do",
      );
      return 0;
    }
    if (ctx.env.disk === undefined)
      throw new InputError("INVALID_ENV", "GANETI_DISK: required in the disk-grow hook's post phase");
    const disk = view.disks[ctx.env.disk];
    if (!disk) {
      throw new InputError(
        "INVALID_ENV",
        `GANETI_DISK: disk ${ctx.env.disk} is not in the environment (GANETI_POST_INSTANCE_DISK_COUNT=${view.disks.length})`,
      );
    }
    index = disk.index;
    uuid = disk.uuid;
    // Where only Ganeti's link can tell (kernelspace rbd, ext), the link; else the disk's own path.
    path = disk.dataPath ?? diskLink(ctx.paths, ctx.name, index);
  }
  const rc = await reportChange(
    "disk-grow",
    index,
    ctx.warnings,
    async () => {
      const bytes = backingSize(path);
      const { grown, entry } = await withInstance(
        ctx.name,
        ctx.session,
        async (qmp) => {
          const doc = currentRuntime(ctx);
          const old = doc?.[3].find((e) => e[0].uuid.toLowerCase() === uuid);
          const grown = await hotGrow(qmp, deviceIdOf(uuid, old?.[0].hvinfo), bytes);
          // The runtime entry with the size the disk has now, in MiB as Ganeti keeps it.
          const entry: RuntimeDiskEntry | undefined = old && [{ ...old[0], size: Math.floor(bytes / MIB) }, old[1], old[2]];
          return { grown, entry, doc };
        },
        ({ entry, doc }) => {
          if (entry) updateRuntime(ctx, (d) => withDisk(d, entry), doc);
        },
      );
      if (grown.from === grown.to) ctx.warn(`disk/${index} already has ${bytes} bytes in QEMU; nothing to tell it`);
      return entry ? { disk: entry } : {};
    },
    "grow",
  );
  return rc;
});
