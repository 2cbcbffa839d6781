// The upgrade path, with two QEMUs on one machine: a VM that stock Ganeti 3.0 started with -drive
// live-migrates into a launcher-started target (Ganeti's target argv: the source's, plus -incoming,
// without -S), arrives on -blockdev with the same ids and slots, and migrates on to another
// launcher-started QEMU. A guest-visible layout that differs in anything makes QEMU refuse the
// migration stream, so each completed migration is the proof that the layout was kept.
import { join } from "node:path";
import t, { type Test } from "tap";
import type { QmpClient } from "../src/qmp/client.js";
import { type BlockInfo, guestLayout, qomGet } from "./helpers/inspect.js";
import {
  daemon,
  images,
  LAUNCHER,
  launcherEnv,
  linkDisks,
  type Node,
  node,
  onNode,
  REAL_QEMU,
  recordedArgv,
  run,
} from "./helpers/launcher.js";
import { freePort } from "./helpers/qemu.js";
import { tempDir } from "./helpers/tmp.js";

const DISK0 = "disk-077af63e-1010-4f10";
const DISK1 = "disk-10aa34ab-09b5-44dc";

/** Ganeti-style argv of layouts not recorded: SCSI disks with an IDE CD-ROM and a floppy. */
function scsiArgv(n: Node, files: { iso: string; floppy: string }, controller: string): string[] {
  const disk = (i: number, id: string) => [
    "-device",
    `scsi-hd,id=${id},bus=scsi.0,channel=0,scsi-id=${i},lun=0,drive=${id}`,
    "-drive",
    `file=${n.disks}/inst1.ganeti.test:${i},format=raw,if=none,aio=threads,cache=writeback,discard=ignore,id=${id},auto-read-only=off`,
  ];
  return [
    "-name", "inst1.ganeti.test", "-m", "128", "-smp", "1",
    "-pidfile", n.pidfile,
    "-device", `${controller},id=scsi`,
    "-device", "virtio-balloon", "-daemonize", "-D", `${n.dir}/log/inst1.ganeti.test.log`,
    "-machine", "pc-i440fx-7.2",
    "-drive", `file=${files.iso},media=cdrom,format=raw,if=ide`,
    "-drive", `file=${files.floppy},format=raw,media=disk,if=floppy`,
    "-monitor", `unix:${n.dir}/ctrl/inst1.ganeti.test.monitor,server,nowait`,
    "-serial", "none", "-usb", "-display", "none", "-net", "none",
    "-qmp", `unix:${n.qmp},server,nowait`,
    "-boot", "c",
    ...disk(0, DISK0), ...disk(1, DISK1),
    "-S",
  ]; // biome-ignore format: argv pairs
}

/** Starts the target as Ganeti does on the node it migrates to, and migrates the source into it. */
async function migrate(t: Test, source: QmpClient, argv: string[], to: Node, env: Record<string, string>) {
  const before = await guestLayout(source);
  const port = await freePort();
  const target = [...argv.filter((a) => a !== "-S"), "-incoming", `tcp:127.0.0.1:${port}`];
  const r = await run(LAUNCHER, target, env);
  t.equal(r.code, 0, `target started through the launcher: ${r.stderr}`);
  const vm = await daemon(t, to);
  await source.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
  let status = "";
  for (let i = 0; i < 600; i++) {
    const info = await source.execute<{ status?: string; "error-desc"?: string }>("query-migrate");
    status = info.status ?? "";
    if (status === "completed" || status === "failed") {
      if (info["error-desc"]) t.comment(info["error-desc"]);
      break;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  t.equal(status, "completed", "the migration completed: the target took the source's device state");
  // The source says completed a moment before the target has finished loading and resumed.
  let state = "";
  for (let i = 0; i < 100 && state !== "running"; i++) {
    state = (await vm.qmp.execute<{ status: string }>("query-status")).status;
    if (state !== "running") await new Promise((res) => setTimeout(res, 50));
  }
  t.equal(state, "running", "the guest runs on the target");
  const attached = (await vm.qmp.execute<BlockInfo[]>("query-block")).filter((b) => b.inserted);
  t.ok(attached.length >= 2, `${attached.length} media attached on the target`);
  for (const b of attached) t.equal(b.device, "", `${b.inserted?.["node-name"]}: -blockdev on the target`);
  t.same(await guestLayout(vm.qmp), before, "the guest sees the same PCI functions and storage devices, in the same places");
  return vm;
}

const LAYOUTS: { name: string; argv: (n: Node, f: ReturnType<typeof images>) => string[]; scsi: boolean }[] = [
  { name: "recorded: virtio disks, virtio CD-ROM, -boot c", argv: (n, f) => recordedArgv("instance-start", n, f), scsi: false },
  {
    name: "recorded: IDE CD-ROM boot, aio=native, cache=none",
    argv: (n, f) => recordedArgv("instance-start-native-nocache-cdromboot", n, f),
    scsi: false,
  },
  { name: "scsi-hd on lsi, IDE CD-ROM, floppy", argv: (n, f) => scsiArgv(n, f, "lsi"), scsi: true },
  { name: "scsi-hd on virtio-scsi-pci, IDE CD-ROM, floppy", argv: (n, f) => scsiArgv(n, f, "virtio-scsi-pci"), scsi: true },
];

for (const layout of LAYOUTS) {
  t.test(`${layout.name}: stock -drive → launcher → launcher`, async (t) => {
    const dir = tempDir(t);
    const files = images(dir, 2);
    const [n1, n2, n3] = [node(join(dir, "node1")), node(join(dir, "node2")), node(join(dir, "node3"))] as [Node, Node, Node];
    for (const n of [n1, n2, n3]) linkDisks(n, files.disks);
    const env = launcherEnv(dir);
    const argv = layout.argv(n1, files);

    const stock = await run(REAL_QEMU, argv);
    t.equal(stock.code, 0, `the stock -drive source started: ${stock.stderr}`);
    const source = await daemon(t, n1);
    await source.qmp.execute("cont"); // as Ganeti does once the VM is set up: SeaBIOS runs
    t.ok(
      (await source.qmp.execute<BlockInfo[]>("query-block")).some((b) => b.inserted && b.device !== ""),
      "the source runs on legacy -drive backends",
    );

    const second = await migrate(t, source.qmp, onNode(argv, n1, n2), n2, env);
    if (layout.scsi) {
      t.equal(await qomGet(second.qmp, DISK1, "scsi-id"), 1, "disk 1 keeps scsi-id 1");
    } else {
      t.equal((await qomGet<number>(second.qmp, DISK1, "addr")) >> 3, 0xd, "disk 1 keeps PCI slot 0xd");
    }
    await source.kill();

    await migrate(t, second.qmp, onNode(argv, n1, n3), n3, env);
  });
}
