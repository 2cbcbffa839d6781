// Figure 5: the storage model's cost in-process.
import { storageArgv } from "../../src/blockdev/argv.js";
import { instanceStorage } from "../../src/blockdev/instance.js";
import type { DiskSpec, QemuCaps } from "../../src/blockdev/model.js";
import { storageSettings } from "../../src/blockdev/settings.js";
import { stats } from "../report.js";
import type { Bench } from "../workbench.js";

export function coreCost(wb: Bench) {
  const { INSTANCE, uuid, rows } = wb;
  const caps: QemuCaps = { version: [7, 2, 22], ioUring: { usable: true, reason: "" } };
  const disks: DiskSpec[] = Array.from({ length: 16 }, (_, i) => ({
    index: i,
    uuid: uuid(i),
    devType: "plain",
    mode: "rw",
    access: "kernelspace",
    link: `/var/run/ganeti/instance-disks/${INSTANCE}:${i}`,
    uri: null,
    ganeti: { uuid: uuid(i), dev_type: "plain" },
  }));
  const settings = storageSettings(
    {
      disk_type: "scsi-hd",
      scsi_controller_type: "virtio-scsi-pci",
      disk_cache: "none",
      disk_aio: "native",
      cdrom_image_path: "/iso/a.iso",
      cdrom2_image_path: "https://example.org/b.iso",
      floppy_image_path: "/img/f.img",
    },
    () => {},
  );
  const once = () => storageArgv(instanceStorage(disks, settings, caps), caps);
  for (let i = 0; i < 500; i++) once();
  const perCall: number[] = [];
  for (let b = 0; b < 30; b++) {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) once();
    perCall.push((performance.now() - t0) / 200);
  }
  const s = stats(perCall);
  rows.push({
    figure: "5. core: 16 disks + 2 CDs + floppy, in-process, per call",
    ...s,
    baseline: "-",
    budget: "< 1 ms",
    pass: s.median < 1,
  });
}
