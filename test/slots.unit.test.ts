// Slots on a bus (src/blockdev/slots.ts): a slot two devices want, one out of range, and a bus
// with none left each get their own line, naming who wants what.
import t from "tap";
import { PciSlots, ScsiIds } from "../src/blockdev/slots.js";
import { backingSize } from "../src/host/backing-size.js";

t.test("PCI slots: Ganeti's reservations, collisions, range, exhaustion", async (t) => {
  const pci = new PciSlots(12);
  t.equal(pci.next("disk 0"), 12, "the first slot after Ganeti's 12 reserved");
  pci.claim(13, "disk 1");
  t.throws(() => pci.claim(13, "disk 2"), { code: "SLOT_COLLISION", message: "disk 2 and disk 1 both want PCI slot 0xd" });
  t.throws(() => pci.claim(99, "disk 3"), { code: "SLOT_RANGE", message: /disk 3: PCI slot 0x63 is out of range/ });
  for (let s = 14; s < 32; s++) pci.claim(s, `disk ${s}`);
  t.throws(() => pci.next("disk 99"), { code: "NO_PCI_SLOT", message: /kvm_pci_reservations=12/ });
});

t.test("SCSI ids: as many as the controller has targets", async (t) => {
  const scsi = new ScsiIds("lsi");
  let n = 0;
  t.throws(
    () => {
      for (;;) scsi.next(`disk ${n++}`);
    },
    { code: "NO_SCSI_ID", message: /scsi_controller_type=lsi has \d+ targets and all are taken/ },
  );
  t.ok(n > 1, `${n - 1} disks placed first`);
});

t.test("a backing store that is not there: named, nothing changed", async (t) => {
  t.throws(() => backingSize("/nonexistent/disk.img"), { code: "DISK_PATH_MISSING", message: /\/nonexistent\/disk\.img/ });
});
