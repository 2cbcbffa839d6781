import { DISK_REMOVE } from "../hotplug/operations/disk-remove.js";
import { runHotplugHook } from "./hotplug.js";

const SUMMARY = `Usage: $0 [options] [< input.json]

Hot-removes a disk from a running Ganeti instance over QMP: device_del, wait for QEMU's
DEVICE_DELETED for that device (or DEVICE_UNPLUG_GUEST_ERROR), blockdev-del, then a check that
device and node are gone. A disk attached with -drive by an older Ganeti is detected first and
refused (restart or live-migrate the instance); nothing is changed then.

Which disk: the JSON payload {"disk": Disk.ToDict(), "index": n, "runtime": [...]}, or else the
disk GANETI_INSTANCE_DISK* lists and GANETI_POST_INSTANCE_DISK* does not (instance-modify post
phase). Without a disk change it does nothing. It acts only where the instance's QMP socket
exists; elsewhere it exits 0 with a note.

If the guest does not release the device within --unplug-timeout, the hook reports failure and
leaves the disk attached and in the runtime file; run it again later to finish the job.

Output (stdout), one line per disk: {"change": ["disk/<n>", "hotplug:done"|"hotplug:failed"],
"error": {...}, "warnings": [...]}. The runtime file loses the entry only when the disk is gone.

Exit status: 0 done (or nothing to do); 1 failed; 2 invalid input (nothing sent to QEMU).`;

void runHotplugHook("disk-remove", SUMMARY, DISK_REMOVE);
