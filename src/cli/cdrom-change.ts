import { CDROM_CHANGE } from "../hotplug/operations/cdrom-change.js";
import { runHotplugHook } from "./hotplug.js";

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

void runHotplugHook("cdrom-change", SUMMARY, CDROM_CHANGE);
