import { isHotpluggable } from "../blockdev/devices.js";
import type { QemuCaps } from "../blockdev/model.js";
import { InputError } from "../errors.js";
import { instanceDiskPaths } from "../ganeti/env.js";
import { keepsDiscardDefault, withDiscardMended, withDisk } from "../ganeti/runtime.js";
import { ganetiHotplugsByDefault } from "../host/ganeti-release.js";
import { AddFailed, hotAdd, planAdd } from "../hotplug/add.js";
import { settleDiskLink } from "../hotplug/disk-link.js";
import { blockOf, hostCaps, liveCaps, queryBlock } from "../hotplug/live.js";
import { disksToAdd } from "../hotplug/request.js";
import { currentRuntime, updateRuntime } from "../hotplug/runtime-file.js";
import { withInstance } from "../hotplug/session.js";
import { runHook, say } from "./hook.js";
import { HOTPLUG_FLAGS, hotplugContext, reconcileFirst, reportChange, startedSettings } from "./hotplug.js";

const SUMMARY = `Usage: $0 [options] [< input.json]

Hot-adds a disk to a running Ganeti instance over QMP (blockdev-add + device_add, verified through
query-block), configured like the instance's other disks: the hvparams it was started with
(runtime file up_hvp) and the same blockdev core as instance-start.

Which disk: the JSON payload {"disk": Disk.ToDict(), "link": ..., "uri": ..., "index": n,
"runtime": [kvm_cmd, nics, up_hvp, disks]}, or else the disk GANETI_POST_INSTANCE_DISK* lists and
GANETI_INSTANCE_DISK* does not (instance-modify post phase). Without a disk change it does nothing.
It acts only where the instance's QMP socket exists; elsewhere it exits 0 with a note.
QEMU opens the disk's own path as Ganeti gives it (logical_id, or DISKn_ID / VG / PMINOR), never
Ganeti's link alone: a missing link is created, a dangling one replaced, and a link that names
anything else is refused (exit 1, DISK_LINK_MISMATCH) with nothing attached.
The slot (PCI addr or scsi-id) is chosen from what QEMU reports plus the runtime file.

Output (stdout), one line per disk: {"change": ["disk/<n>", "hotplug:done"|"hotplug:failed"],
"disk": [Disk.ToDict() with hvinfo, link, uri], "error": {...}, "warnings": [...]}. The runtime
file, when one is in use, gets the new entry (written atomically).
A failure after QEMU was changed undoes the steps taken, in reverse (device_del and QEMU's
DEVICE_DELETED, then blockdev-del); the message says "the VM is as it was", or exactly what is left
(a device the guest does not release stays attached, and recorded).

Exit status: 0 done (or nothing to do); 1 failed, including anything the live VM refuses; 2
invalid input (nothing sent to QEMU).`;

void runHook("disk-add", SUMMARY, HOTPLUG_FLAGS, async (args) => {
  const ctx = hotplugContext("disk-add", args);
  if (!ctx) return 0;
  const disks = disksToAdd(ctx.env, ctx.input, ctx.paths);
  const settings = startedSettings(ctx);
  if (!("none" in disks) && !isHotpluggable(settings.diskType)) {
    throw new InputError(
      "NOT_HOTPLUGGABLE",
      `disk_type=${settings.diskType} cannot be hot-plugged (QEMU's IDE buses are not hot-pluggable); nothing was sent`,
    );
  }
  // Everything decidable without the VM is decided first: bad input never reaches QEMU. What only
  // the running QEMU can say (its version, io_uring in its build) is checked by planning again
  // under its capabilities, read once per run.
  const plans = "none" in disks ? [] : disks.map((d) => planAdd(d, settings, hostCaps(), ctx.warn));
  await reconcileFirst("disk-add", ctx, new Set(plans.map((p) => p.disk.uuid)));
  if ("none" in disks) {
    say("disk-add", "note", `${disks.none}; nothing to do`);
    return 0;
  }
  let caps: Promise<QemuCaps> | undefined;
  let status: 0 | 1 = 0;
  const ganetiAttaches = ganetiHotplugsByDefault(process.env);
  for (const plan of plans) {
    // Ganeti 3.1 attached the disk itself, or was told not to (--no-hotplug): the hook attaches
    // nothing, and only records what Ganeti attached without recording it (its SCSI hot-add).
    if (ganetiAttaches) {
      const attached = await withInstance(ctx.name, ctx.session, async (qmp) => {
        return blockOf(await queryBlock(qmp), plan.id)?.inserted?.["node-name"] === plan.id;
      });
      const doc = currentRuntime(ctx);
      const recorded = (doc?.[3] ?? []).some((e) => e[0].uuid === plan.disk.ganeti.uuid);
      // On a runtime file 3.0 wrote, 3.1's own hot-add fails (disk_discard=default): the hook does it.
      const ganetiCould = !keepsDiscardDefault(doc);
      if (!attached && !ganetiCould) {
        ctx.warn("Ganeti 3.1 cannot hot-plug on this runtime file from Ganeti 3.0 (disk_discard=default); the hook does it");
      } else if (!attached) {
        say(
          "disk-add",
          "note",
          `Ganeti did not hot-plug disk/${plan.disk.index} (--no-hotplug, or its own hot-add failed): it is attached at the instance's next start`,
        );
        continue;
      }
      if (recorded) continue; // Ganeti's own hot-add, done and recorded: nothing to add or say
    }
    const rc = await reportChange("disk-add", plan.disk.index, ctx.warnings, async () => {
      const { disk } = plan;
      if (disk.path !== undefined && disk.path !== disk.link) {
        settleDiskLink(disk.link, disk.path, ctx.warn, instanceDiskPaths(ctx.env));
      }
      const { entry, failed } = await withInstance(
        ctx.name,
        ctx.session,
        async (qmp, reconnect) => {
          caps ??= liveCaps(qmp, settings.aio === "io_uring");
          planAdd(plan.disk, settings, await caps, () => {}); // its warnings were given above
          // Read once under the lock: the slots it records, and the base of the update below.
          const doc = currentRuntime(ctx);
          const recorded = (doc?.[3] ?? []).flatMap((e) => (e[0].hvinfo ? [e[0].hvinfo] : []));
          try {
            return { entry: await hotAdd(qmp, plan, recorded, ctx.warn, ctx.unplugTimeoutMs, reconnect), doc, failed: undefined };
          } catch (e) {
            // A rollback the guest would not let finish: the disk is attached, and recorded as such.
            if (e instanceof AddFailed && e.entry) return { entry: e.entry, doc, failed: e };
            throw e;
          }
        },
        // Under 3.1, disk_discard mended too, so that Ganeti's next hot-add works (see keepsDiscardDefault).
        ({ entry, doc }) =>
          updateRuntime(ctx, (d) => (ganetiAttaches ? withDiscardMended(withDisk(d, entry)) : withDisk(d, entry)), doc),
      );
      if (failed) throw failed;
      return { disk: entry };
    });
    status = rc === 1 ? 1 : status;
  }
  return status;
});
