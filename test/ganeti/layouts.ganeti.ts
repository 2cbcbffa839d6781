// npm run test:ganeti, layouts: for storage layouts a stock Ganeti 3.0.2 can start, the command
// line Ganeti itself writes (legacy -drive) and the launcher's rewrite of that very command line
// must give the guest the same machine: PCI functions, storage devices in the same places, the
// same media. That is what a live migration from stock QEMU into the launcher needs (QEMU refuses
// a stream whose devices differ), and what a guest expects across a restart through the launcher.
// Ganeti starts each layout with stock QEMU; the launcher is then run with the argv Ganeti used.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { RuntimeDocument } from "../../src/generated/common.js";
import { pathKind } from "../../src/host/path-kind.js";
import { ROOT } from "../helpers/hook.js";
import { LAUNCHER, REAL_QEMU } from "../helpers/launcher.js";
import { launcherPlan, runtimePlan } from "../helpers/layout-agreement.js";
import {
  addTestInstance,
  type GanetiNode,
  gnt as gntOn,
  keepPluginFiles,
  lastLine,
  layout,
  pidFile,
  qemuPid,
  runtimeFile,
  setUp,
  writePluginConfig,
} from "./harness.js";

const INST = "gqb-layouts.ganeti.test";
const NODE = "gnt-node1.ganeti.test";
const HERE: GanetiNode = { run: "/var/run/ganeti", hooks: "/etc/ganeti/hooks", log: "/var/log/ganeti", enter: [] };
const CLUSTER = join(ROOT, "test/ganeti/cluster.sh");
const STORAGE = "/srv/gqb-ganeti"; // cluster.sh's, removed by its down
const gnt = (cmd: string, ...args: string[]) => gntOn(HERE, cmd, ...args);

const ISO1 = join(STORAGE, "one.iso");
const ISO2 = join(STORAGE, "two.iso");
const FLOPPY = join(STORAGE, "floppy.img");

/** Each case sets every storage hvparam, so that none is left over from the case before. */
interface Case {
  machine: "" | "pc" | "q35";
  disks: "paravirtual" | "ide" | "scsi-hd/virtio-scsi-pci" | "scsi-hd/lsi";
  cdrom?: "ide" | "paravirtual";
  cdrom2?: boolean;
  floppy?: boolean;
  boot: "disk" | "cdrom";
}
// Layouts a stock Ganeti 3.0.2 starts with QEMU 7.2 (it cannot start q35 with virtio or SCSI disks:
// Ganeti writes bus=pci.0; nor a floppy boot: boot=on; nor SCSI CD-ROMs: if=scsi).
const CASES: Case[] = [
  { machine: "pc", disks: "paravirtual", cdrom: "ide", boot: "cdrom" },
  { machine: "", disks: "paravirtual", cdrom: "paravirtual", cdrom2: true, floppy: true, boot: "disk" },
  { machine: "", disks: "paravirtual", cdrom: "ide", cdrom2: true, floppy: true, boot: "disk" },
  { machine: "", disks: "ide", cdrom: "ide", cdrom2: true, floppy: true, boot: "disk" },
  { machine: "pc", disks: "scsi-hd/virtio-scsi-pci", cdrom: "ide", floppy: true, boot: "cdrom" },
  { machine: "pc", disks: "scsi-hd/lsi", cdrom: "ide", boot: "disk" },
  { machine: "", disks: "scsi-hd/virtio-scsi-pci", boot: "disk" },
  { machine: "q35", disks: "ide", cdrom: "ide", boot: "disk" },
  { machine: "q35", disks: "ide", cdrom: "ide", cdrom2: true, boot: "cdrom" },
];

function hvparams(c: Case): string {
  const [diskType, controller] = c.disks.split("/");
  return [
    `machine_version=${c.machine}`,
    `disk_type=${diskType}`,
    `scsi_controller_type=${controller ?? "lsi"}`,
    `cdrom_image_path=${c.cdrom ? ISO1 : ""}`,
    `cdrom_disk_type=${c.cdrom ?? ""}`,
    `cdrom2_image_path=${c.cdrom2 ? ISO2 : ""}`,
    `floppy_image_path=${c.floppy ? FLOPPY : ""}`,
    `boot_order=${c.boot}`,
  ].join(",");
}

const describe = (c: Case) =>
  `${c.machine || "default machine"}, ${c.disks} disks${c.cdrom ? `, ${c.cdrom} CD-ROM` : ""}${c.cdrom2 ? " + second CD-ROM" : ""}${c.floppy ? ", floppy" : ""}, boot ${c.boot}`;

let restorePluginFiles = () => {};

setUp(
  t,
  () => {
    execFileSync("bash", [CLUSTER, "up"], { stdio: "inherit" });
    restorePluginFiles = keepPluginFiles();
    writePluginConfig({ qemu: REAL_QEMU });
    for (const [f, size] of [
      [ISO1, 1 << 20],
      [ISO2, 1 << 20],
      [FLOPPY, 1440 << 10],
    ] as const)
      writeFileSync(f, Buffer.alloc(size));
    addTestInstance(HERE, INST, { template: "file", pnode: NODE, memory: "64M", hv: `kvm_path=${REAL_QEMU}` });
  },
  () => {
    const pid = qemuPid(HERE, INST);
    if (pid) process.kill(pid, "SIGKILL");
    restorePluginFiles();
    execFileSync("bash", [CLUSTER, "down"], { stdio: "inherit" });
  },
);

for (const c of CASES) {
  t.test(describe(c), async (t) => {
    t.equal(gnt("gnt-instance", "modify", "-H", hvparams(c), INST).code, 0, "hvparams set");
    const start = gnt("gnt-instance", "start", INST);
    t.equal(start.code, 0, `Ganeti starts it with stock QEMU: ${lastLine(start)}`);
    const pid = qemuPid(HERE, INST) as number;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
    t.ok(argv.includes("-drive"), "Ganeti's own command line, with -drive");
    const stock = await layout(HERE, INST);
    // One layout model: instance-start's plan for the hvparams and disks Ganeti started with (its
    // runtime file, recorded slots dropped) and the launcher's rewrite of Ganeti's command line.
    const doc = JSON.parse(readFileSync(runtimeFile(HERE, INST), "utf8")) as RuntimeDocument;
    t.same(
      launcherPlan(argv.slice(1), pathKind),
      await runtimePlan(doc, INST),
      "instance-start plans the same devices, slots and node options as the launcher's rewrite",
    );
    t.equal(gnt("gnt-instance", "shutdown", "--timeout=0", INST).code, 0, "shut down");
    // Ganeti removes the disks' links at shutdown; the launcher's QEMU opens them.
    t.equal(gnt("gnt-instance", "activate-disks", INST).code, 0, "disks active again");

    const run = spawnSync(LAUNCHER, argv.slice(1), { encoding: "utf8", timeout: 60_000 });
    t.equal(run.status, 0, `the launcher starts Ganeti's argv: ${run.stderr.trim()}`);
    const launched = qemuPid(HERE, INST) as number;
    try {
      const rewritten = readFileSync(`/proc/${launched}/cmdline`, "utf8").split("\0");
      t.notOk(rewritten.includes("-drive"), "the launcher's QEMU has no -drive");
      const ours = await layout(HERE, INST);
      t.same(ours.pci, stock.pci, "the same PCI functions in the same slots");
      t.same(ours.storage, stock.storage, "the same storage devices in the same places, with the same media");
      t.same(
        stock.ids.filter((id) => !ours.ids.includes(id)),
        [],
        `every device id of Ganeti's command line is there (${stock.ids.join(" ") || "none"})`,
      );
    } finally {
      process.kill(launched, "SIGKILL");
      for (let i = 0; i < 50 && existsSync(`/proc/${launched}`); i++) await new Promise((r) => setTimeout(r, 100));
      rmSync(pidFile(HERE, INST), { force: true });
    }
  });
}
