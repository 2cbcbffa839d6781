// Figure 1: instance-start's start-up against bare Node, both input modes, interleaved.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { stats } from "../report.js";
import { type Bench, timed } from "../workbench.js";

export async function startup(wb: Bench): Promise<number> {
  const { STARTUP_N, nodePath, hook, baseEnv, startEnv, paths, startJson, rows } = wb;
  // One run fills the QEMU version cache (env-only mode asks the binary once per install).
  const first = execFileSync(hook("instance-start"), paths, { env: startEnv, encoding: "utf8" });
  const out = JSON.parse(first) as { disks: unknown[] };
  writeFileSync(
    startJson,
    JSON.stringify({
      disks: out.disks,
      hvparams: {
        disk_type: "scsi-hd",
        scsi_controller_type: "virtio-scsi-pci",
        disk_cache: "none",
        disk_aio: "native",
        disk_discard: "unmap",
        cdrom_image_path: startEnv["GANETI_INSTANCE_HV_cdrom_image_path"],
        cdrom2_image_path: startEnv["GANETI_INSTANCE_HV_cdrom2_image_path"],
        floppy_image_path: startEnv["GANETI_INSTANCE_HV_floppy_image_path"],
      },
      qemu: { version: "7.2.22" },
    }),
  );
  const bare: number[] = [];
  const envOnly: number[] = [];
  const withJson: number[] = [];
  for (let i = 0; i < STARTUP_N + 5; i++) {
    const b = await timed(nodePath, ["-e", ""], baseEnv);
    const e = await timed(hook("instance-start"), paths, startEnv);
    const j = await timed(hook("instance-start"), paths, startEnv, startJson);
    if (i >= 5) {
      bare.push(b);
      envOnly.push(e);
      withJson.push(j);
    }
  }
  const b = stats(bare);
  wb.bareNodeMs = b.median;
  for (const [name, xs] of [
    ["env-only", envOnly],
    ["with JSON", withJson],
  ] as const) {
    const s = stats(xs);
    const ratio = s.median / b.median;
    rows.push({
      figure: `1. instance-start, 4 disks + 2 CDs + floppy, ${name}`,
      ...s,
      baseline: `node -e '' ${b.median.toFixed(1)} ms`,
      budget: `≤ 1.15× (${ratio.toFixed(3)}×)`,
      pass: ratio <= 1.15,
    });
  }
  return stats(envOnly).median;
}
