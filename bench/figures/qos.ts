// Figure 13: what per-disk I/O limits cost a start. The launcher starts a real QEMU (paused, as
// Ganeti starts it) from a recorded Ganeti argv, once with the disks' disk-qos: tags recorded on
// the node and once without; the difference is the limits' cost. Its floor, from the same run:
// a bare QMP session on the same kind of freshly started QEMU (connect, one block_set_io_throttle
// per disk, close), the least that setting the limits over QMP can cost.
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskDeviceId } from "../../src/blockdev/ids.js";
import { hasLimits, qosPolicy, throttleArguments, throttleTargets } from "../../src/blockdev/qos.js";
import { QmpClient } from "../../src/qmp/client.js";
import { writeQosRecord } from "../../src/qos/record.js";
import { stats } from "../report.js";
import { type Bench, timed } from "../workbench.js";

const INSTANCE = "inst1.ganeti.test";
const UUIDS = ["077af63e-1010-4f10-afbc-38b0886148d0", "10aa34ab-09b5-44dc-b483-435c5ea120a7"];
const TAGS = ["disk-qos:disk0:iops:500", "disk-qos:disk1:bps:200M"];

export async function qosStart(wb: Bench) {
  const { root, dir, N, qemuPath, hook, baseEnv, rows } = wb;
  const base = join(dir, "qos");
  const ctrl = join(base, "ctrl");
  for (const d of ["ctrl", "pid", "log", "disks"]) mkdirSync(join(base, d), { recursive: true });
  for (const i of UUIDS.keys()) {
    const img = join(base, `disk${i}.img`);
    writeFileSync(img, Buffer.alloc(8 << 20));
    symlinkSync(img, join(base, "disks", `${INSTANCE}:${i}`));
  }
  writeFileSync(join(base, "empty.iso"), Buffer.alloc(1 << 20));
  const argv = readFileSync(join(root, "test/fixtures/ganeti-3.0.2/extra/kvm-cmdline.instance-start.txt"), "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((a) =>
      a
        .replaceAll("/var/run/ganeti/kvm-hypervisor/pid/", `${base}/pid/`)
        .replaceAll("/var/log/ganeti/kvm/", `${base}/log/`)
        .replaceAll("/var/run/ganeti/kvm-hypervisor/ctrl/", `${ctrl}/`)
        .replaceAll("/var/run/ganeti/instance-disks/", `${base}/disks/`)
        .replaceAll("/srv/ganeti/iso/empty.iso", join(base, "empty.iso")),
    );
  const config = join(base, "config.json");
  writeFileSync(config, JSON.stringify({ qemu: qemuPath }));
  const env = { ...baseEnv, GANETI_QEMU_BLOCKDEV_CONFIG: config, GANETI_QEMU_BLOCKDEV_CACHE_DIR: join(base, "cache") };
  const pidfile = join(base, "pid", INSTANCE);
  const stop = () => {
    try {
      process.kill(Number(readFileSync(pidfile, "utf8")), "SIGKILL");
    } catch {
      // not running
    }
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(Number(readFileSync(pidfile, "utf8")), 0);
      } catch {
        break;
      }
    }
    rmSync(pidfile, { force: true });
  };
  const record = (on: boolean) => writeQosRecord(ctrl, INSTANCE, { tags: on ? TAGS : [], disks: UUIDS });
  const targets = throttleTargets(
    qosPolicy(TAGS),
    UUIDS.map((u, index) => ({ index, id: diskDeviceId(u) })),
  ).filter((t) => hasLimits(t.limits));
  const launch = hook("qemu-launcher");
  const without: number[] = [];
  const withLimits: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < N + 3; i++) {
    record(false);
    const t0 = await timed(launch, argv, env);
    // The floor, on this freshly started QEMU: a QMP session that sets the same limits.
    const f0 = performance.now();
    const q = await QmpClient.connect(join(ctrl, `${INSTANCE}.qmp`), { timeoutMs: 10_000 });
    await Promise.all(
      targets.map((t) =>
        q.execute("block_set_io_throttle", throttleArguments({ ...t, qdev: `/machine/peripheral/${t.id}/virtio-backend` })),
      ),
    );
    q.close();
    const f1 = performance.now() - f0;
    stop();
    record(true);
    const t1 = await timed(launch, argv, env);
    stop();
    if (i >= 3) {
      without.push(t0);
      withLimits.push(t1);
      floor.push(f1);
    }
  }
  record(false);
  const cost = stats(withLimits.map((w, i) => w - (without[i] as number)));
  const fl = stats(floor);
  const budget = 2 * fl.median + 5;
  rows.push({
    figure: `13. a start with ${targets.length} disks' I/O limits, over the same start without`,
    ...cost,
    baseline: `QMP floor (connect + ${targets.length} block_set_io_throttle) ${fl.median.toFixed(1)} ms; start without limits ${stats(without).median.toFixed(1)} ms`,
    budget: `≤ 2× floor + 5 ms (${budget.toFixed(1)})`,
    pass: cost.median <= budget,
    note: "one block_set_io_throttle per limited disk (test/qos.qemu.test.ts counts them)",
  });
}
