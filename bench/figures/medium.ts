// Figure 10: cdrom-change on an IDE CD-ROM of a paused QEMU.
import { execFileSync, spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeDocument } from "../../scripts/lib/ganeti-runtime.mjs";
import { QEMU_TCG } from "../../scripts/lib/qemu-args.mjs";
import { type Bench, deltaRow, sleep, timed, waitFile } from "../workbench.js";

/** Figure 10: cdrom-change on an IDE CD-ROM of a paused QEMU (no guest), back and forth between two images. */
export async function mediumChange(wb: Bench) {
  const { dir, procs, N, qemuPath, hook, baseEnv, INSTANCE, img, startEnv, paths, rows } = wb;
  const env: Record<string, string> = {
    ...startEnv,
    GANETI_INSTANCE_HV_cdrom_disk_type: "ide",
    GANETI_INSTANCE_HV_disk_type: "paravirtual",
  };
  const out = JSON.parse(execFileSync(hook("instance-start"), paths, { env, encoding: "utf8" })) as {
    argv: string[];
    disks: unknown[];
  };
  writeFileSync(join(dir, `${INSTANCE}.runtime`), runtimeDocument(qemuPath, env, out.disks));
  const sock = join(dir, `${INSTANCE}.qmp`);
  rmSync(sock, { force: true });
  const qemu = spawn(
    qemuPath,
    [...QEMU_TCG, "-S", "-m", "64", "-machine", "pc", "-qmp", `unix:${sock},server=on,wait=off`, ...out.argv],
    {
      stdio: "ignore",
    },
  );
  procs.push(qemu);
  await waitFile(sock);
  await sleep(200);
  const images = [env["GANETI_INSTANCE_HV_cdrom_image_path"] as string, img("cd3.iso", 1 << 20)];
  const modify = (from: string, to: string) => {
    const e: Record<string, string> = { ...baseEnv, GANETI_HOOKS_PHASE: "post" };
    for (const [k, v] of Object.entries(env)) {
      if (!k.startsWith("GANETI_INSTANCE_")) continue;
      e[k] = v;
      e[`GANETI_POST_${k.slice(7)}`] = v;
    }
    e["GANETI_INSTANCE_HV_cdrom_image_path"] = from;
    e["GANETI_POST_INSTANCE_HV_cdrom_image_path"] = to;
    return e;
  };
  const changes: number[] = [];
  const starts: number[] = [];
  for (let i = 0; i < N + 3; i++) {
    const [from, to] = i % 2 === 0 ? images : [images[1], images[0]];
    const st = await timed(hook("instance-start"), paths, startEnv);
    const ms = await timed(hook("cdrom-change"), paths, modify(from as string, to as string));
    if (i < 3) continue;
    starts.push(st);
    changes.push(ms);
  }
  deltaRow(rows, "10. cdrom-change, IDE CD-ROM, real QEMU (tray sequence)", changes, starts, 40);
  qemu.kill("SIGKILL");
}
