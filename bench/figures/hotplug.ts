// Figures 2, 3 and 9: disk-add, disk-remove (each against its floor) and disk-grow on a paused QEMU.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeDocument } from "../../scripts/lib/ganeti-runtime.mjs";
import { QEMU_TCG } from "../../scripts/lib/qemu-args.mjs";
import { commandsFile, floorClient, recordCommands } from "../hotplug-floor.js";
import { stats } from "../report.js";
import { type Bench, deltaRow, ownWork, peakRss, sleep, timed, waitFile } from "../workbench.js";

/**
 * Figures 2, 3 and 9: the hot-plug hooks on a paused QEMU with a SCSI controller. Figures 2 and 3
 * are each judged against a floor from the same loop: the same QEMU commands sent by
 * bench/floor-client.cjs, a bare Node script, over bare Node's own start and exit; the hook's own
 * work is its time over instance-start's, from the same iteration.
 */
export async function scsiHotplug(wb: Bench) {
  const { dir, N, qemuPath, nodePath, hook, baseEnv, INSTANCE, startEnv, paths } = wb;
  const out = JSON.parse(execFileSync(hook("instance-start"), paths, { env: startEnv, encoding: "utf8" })) as {
    argv: string[];
    disks: unknown[];
  };
  writeFileSync(join(dir, `${INSTANCE}.runtime`), runtimeDocument(qemuPath, startEnv, out.disks));
  const argv = out.argv;
  const sock = join(dir, `${INSTANCE}.qmp`);
  const qemu = spawn(qemuPath, [...QEMU_TCG, "-S", "-m", "64", "-qmp", `unix:${sock},server=on,wait=off`, ...argv], {
    stdio: "ignore",
  });
  wb.procs.push(qemu);
  await waitFile(sock);
  await sleep(200);
  const env = { ...baseEnv, GANETI_INSTANCE_NAME: INSTANCE, GANETI_HOOKS_PHASE: "post" };
  const payload = join(dir, "hot.json");
  // As Ganeti 3.1 passes it: logical_id names the image (disk-add checks the link against it).
  const hot = wb.img("hot.img", 16 << 20);
  writeFileSync(
    payload,
    JSON.stringify({ disk: { uuid: wb.uuid(50), dev_type: "file", mode: "rw", logical_id: ["loop", hot] }, index: 4 }),
  );
  symlinkSync(hot, join(wb.diskDir, `${INSTANCE}:4`));
  // The commands each hook sends, recorded once through a proxy, for the floor client.
  const recDir = join(dir, "rec", "qmp");
  mkdirSync(recDir, { recursive: true });
  const recPaths = [...paths, "--qmp-dir", recDir];
  const recSock = join(recDir, `${INSTANCE}.qmp`);
  const floorAdd = commandsFile(
    dir,
    "add",
    await recordCommands(sock, recSock, () => timed(hook("disk-add"), recPaths, env, payload)),
  );
  const floorRemove = commandsFile(
    dir,
    "remove",
    await recordCommands(sock, recSock, () => timed(hook("disk-remove"), recPaths, env, payload)),
  );
  const client = floorClient(wb.root);
  const cols = { bare: [] as number[], start: [] as number[], add: [] as number[], remove: [] as number[] };
  const floor = { add: [] as number[], remove: [] as number[] };
  for (let i = 0; i < N + 3; i++) {
    const b = await timed(nodePath, ["-e", ""], baseEnv);
    const st = await timed(hook("instance-start"), paths, startEnv);
    const a = await timed(hook("disk-add"), paths, env, payload);
    const r = await timed(hook("disk-remove"), paths, env, payload);
    const fa = await timed(nodePath, [client, sock, floorAdd], baseEnv);
    const fr = await timed(nodePath, [client, sock, floorRemove], baseEnv);
    if (i < 3) continue;
    cols.bare.push(b);
    cols.start.push(st);
    cols.add.push(a);
    cols.remove.push(r);
    floor.add.push(fa - b);
    floor.remove.push(fr - b);
  }
  // Peak RSS of the same hooks doing the same work (figure 6), wrapped in GNU time.
  for (let i = 0; i < 5; i++) {
    wb.hotplugRss.add.push(peakRss(hook("disk-add"), paths, env, payload));
    wb.hotplugRss.remove.push(peakRss(hook("disk-remove"), paths, env, payload));
  }
  const startup = stats(cols.start).median;
  const judged = (figure: string, runs: number[], floorRuns: number[], commands: string, budget: number) => {
    const own = stats(ownWork(runs, cols.start));
    const fl = stats(floorRuns);
    const ratio = own.median / fl.median;
    wb.rows.push({
      figure,
      ...stats(runs),
      baseline: `own work +${own.median.toFixed(1)} ms over instance-start ${startup.toFixed(1)}; floor ${fl.median.toFixed(1)} ms (${commands})`,
      budget: `own ≤ ${budget}× floor (${ratio.toFixed(2)}×)`,
      pass: ratio <= budget,
    });
  };
  const count = (f: string) => (JSON.parse(readFileSync(f, "utf8")) as unknown[]).length + 1;
  judged("2. disk-add, scsi-hd, real QEMU", cols.add, floor.add, `the same ${count(floorAdd)} QMP commands from bare Node`, 1.6);
  judged(
    "3. disk-remove, scsi-hd, real QEMU",
    cols.remove,
    floor.remove,
    `the same ${count(floorRemove)} QMP commands from bare Node, QEMU's SCSI unplug included`,
    1.3,
  );
  // Figure 9: disk-grow, the hot disk grown by 1 MiB before each run (as grow-disk grows the file).
  await timed(hook("disk-add"), paths, env, payload);
  const grows: number[] = [];
  const starts: number[] = [];
  for (let i = 0; i < N + 3; i++) {
    truncateSync(hot, (16 + i + 1) << 20);
    const st = await timed(hook("instance-start"), paths, startEnv);
    const g = await timed(hook("disk-grow"), paths, env, payload);
    if (i < 3) continue;
    starts.push(st);
    grows.push(g);
  }
  deltaRow(wb.rows, "9. disk-grow, scsi-hd, real QEMU (block_resize)", grows, starts, 30);
  qemu.kill("SIGKILL");
}
