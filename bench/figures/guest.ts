// Figure 4: a real guest releases a disk; QEMU's DEVICE_DELETED to the hook's exit, against its floor.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeDocument } from "../../scripts/lib/ganeti-runtime.mjs";
import { QEMU_TCG } from "../../scripts/lib/qemu-args.mjs";
import { QmpClient } from "../../src/qmp/client.js";
import { commandsFile, floorClient, recordCommands } from "../hotplug-floor.js";
import { stats } from "../report.js";
import { type Bench, sleep, timed, waitFile } from "../workbench.js";

export async function guestRemove(wb: Bench) {
  const { root, dir, procs, GUEST_N, qemuPath, nodePath, hook, baseEnv, INSTANCE, uuid, startEnv, paths, rows } = wb;
  const guestDir = execFileSync(nodePath, [join(root, "scripts/build-guest.mjs")], { encoding: "utf8" }).trim();
  const gEnv = {
    ...startEnv,
    GANETI_INSTANCE_HV_disk_type: "paravirtual",
    GANETI_INSTANCE_HV_cdrom_image_path: "",
    GANETI_INSTANCE_HV_cdrom2_image_path: "",
    GANETI_INSTANCE_HV_floppy_image_path: "",
  };
  const out = JSON.parse(execFileSync(hook("instance-start"), paths, { env: gEnv, encoding: "utf8" })) as {
    argv: string[];
    disks: unknown[];
  };
  writeFileSync(join(dir, `${INSTANCE}.runtime`), runtimeDocument(qemuPath, gEnv, out.disks));
  const consoleLog = join(dir, "console.log");
  const monitor = join(dir, "bench-monitor.qmp");
  const qemu = spawn(
    qemuPath,
    [
      ...QEMU_TCG,
      "-m",
      "256",
      "-machine",
      "pc",
      "-kernel",
      join(guestDir, "vmlinux"),
      "-initrd",
      join(guestDir, "initrd.gz"),
      "-append",
      "console=ttyS0 panic=-1 quiet",
      "-chardev",
      `file,id=con,path=${consoleLog}`,
      "-serial",
      "chardev:con",
      "-no-reboot",
      "-qmp",
      `unix:${join(dir, `${INSTANCE}.qmp`)},server=on,wait=off`,
      "-qmp",
      `unix:${monitor},server=on,wait=off`,
      ...out.argv,
    ],
    { stdio: "ignore" },
  );
  procs.push(qemu);
  await waitFile(monitor);
  for (let i = 0; i < 1200 && !(existsSync(consoleLog) && readFileSync(consoleLog, "utf8").includes("BOOT-OK")); i++)
    await sleep(50);
  const mon = await QmpClient.connect(monitor);
  const env = { ...baseEnv, GANETI_INSTANCE_NAME: INSTANCE, GANETI_HOOKS_PHASE: "post" };
  const payload = join(dir, "hot.json");
  const id = `disk-${uuid(50).split("-").slice(0, 3).join("-")}`;
  const sock = join(dir, `${INSTANCE}.qmp`);
  /** Adds the disk, lets the guest probe it, then times QEMU's DEVICE_DELETED → `remove`'s exit. */
  const afterEvent = async (remove: () => Promise<number>) => {
    await timed(hook("disk-add"), paths, env, payload);
    await sleep(1500); // let the guest finish probing the new disk
    const events = mon.listen({ names: ["DEVICE_DELETED"], data: { device: id } });
    await remove();
    const exitEpoch = performance.timeOrigin + performance.now();
    const ev = await events.next(5000);
    events.close();
    const ts = ev.timestamp as { seconds: number; microseconds: number };
    return exitEpoch - (ts.seconds * 1000 + ts.microseconds / 1000);
  };
  // The hook's commands for this removal, recorded once, for the floor client.
  const recDir = join(dir, "rec-guest", "qmp");
  mkdirSync(recDir, { recursive: true });
  await timed(hook("disk-add"), paths, env, payload);
  await sleep(1500);
  const recorded = await recordCommands(sock, join(recDir, `${INSTANCE}.qmp`), () =>
    timed(hook("disk-remove"), [...paths, "--qmp-dir", recDir], env, payload),
  );
  const floorRemove = commandsFile(dir, "guest-remove", recorded);
  const deltas: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < GUEST_N; i++) {
    deltas.push(await afterEvent(() => timed(hook("disk-remove"), paths, env, payload)));
    floor.push(await afterEvent(() => timed(nodePath, [floorClient(root), sock, floorRemove], baseEnv)));
  }
  mon.close();
  qemu.kill("SIGKILL");
  const s = stats(deltas);
  const f = stats(floor);
  const ratio = s.median / f.median;
  rows.push({
    figure: "4. disk-remove, virtio-blk, real guest: DEVICE_DELETED → hook exit",
    ...s,
    baseline: `floor ${f.median.toFixed(1)} ms: bare Node waiting for the event, then blockdev-del and exit`,
    budget: `≤ 1.5× floor (${ratio.toFixed(2)}×)`,
    pass: ratio <= 1.5,
    note: "includes process exit and the spawn callback",
  });
}
