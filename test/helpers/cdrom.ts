// What the CD-ROM tests share: test media, the recorded modify that changes an image path, and
// what a drive holds now as QEMU reports it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { type EnvVars, loadEnv } from "./hook.js";
import { namedNodes, queryBlock } from "./inspect.js";
import { type Instance, startInstance } from "./instance.js";
import { tempDir } from "./tmp.js";

const MODIFY = loadEnv("ganeti-3.0.2/instance-modify-hvparams-offline-post.env");

/** The recorded modify, with the CD-ROM image before and after as given. */
export const change = (before: string, after: string, key = "cdrom_image_path"): EnvVars => ({
  ...MODIFY,
  [`GANETI_INSTANCE_HV_${key}`]: before,
  [`GANETI_POST_INSTANCE_HV_${key}`]: after,
});

/** A 1 MiB medium that starts with `marker`. */
export function iso(dir: string, name: string, marker: string): string {
  const path = join(dir, name);
  const data = Buffer.alloc(1 << 20);
  data.write(marker);
  writeFileSync(path, data);
  return path;
}

/** What is in the drive: the file behind its medium node, or nothing. */
export async function inDrive(inst: Instance, id: string) {
  const blk = (await queryBlock(inst.vm.qmp)).find((b) =>
    [id, `/machine/peripheral/${id}`, `/machine/peripheral/${id}/virtio-backend`].includes(b.qdev),
  );
  const node = blk?.inserted?.["node-name"];
  if (!node) return undefined;
  const file = (await namedNodes(inst.vm.qmp)).find((n) => n["node-name"] === `${node}-file`);
  return { node, file: file?.file, ro: blk?.inserted?.ro };
}

/** An instance (SCSI disks) with CD-ROM 1 of `cdromType` holding one.iso; two.iso beside it. */
export async function instanceWithCdrom(t: Test, cdromType: string) {
  const base = tempDir(t);
  const one = iso(base, "one.iso", "MEDIUM-ONE");
  const two = iso(base, "two.iso", "MEDIUM-TWO");
  const inst = await startInstance(t, {
    disk_type: "scsi-hd",
    scsi_controller_type: "virtio-scsi-pci",
    cdrom_disk_type: cdromType,
    cdrom_image_path: one,
  });
  return { inst, one, two, base };
}
