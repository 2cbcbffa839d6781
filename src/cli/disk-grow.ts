import { DISK_GROW } from "../hotplug/operations/disk-grow.js";
import { runHotplugHook } from "./hotplug.js";

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

void runHotplugHook("disk-grow", SUMMARY, DISK_GROW);
