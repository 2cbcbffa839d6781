import { DISK_ADD } from "../hotplug/operations/disk-add.js";
import { runHotplugHook } from "./hotplug.js";

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

void runHotplugHook("disk-add", SUMMARY, DISK_ADD);
