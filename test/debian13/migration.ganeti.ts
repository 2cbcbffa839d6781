// npm run test:ganeti, Debian 13, two nodes: live migration under a real Ganeti 3.1 with QEMU 10.0
// (test/debian13/two-nodes.sh, in the trixie chroot). First between a node whose QEMU is stock and
// one whose QEMU is the launcher, both ways: the launcher passes 3.1's arguments on unchanged, so a
// cluster may take the plugin node by node. Then the upgrade: with the plugin on both nodes, an
// instance whose runtime file Ganeti 3.0 wrote (its kvm_cmd holds -drive) migrates both ways, and
// stays manageable on the other side.
import { execFileSync } from "node:child_process";
import { readlinkSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { guestFiles, guestKernel } from "../../lab/guest.js";
import {
  addTestInstance,
  allBlockdev,
  Console,
  gnt,
  lastLine,
  Migrations,
  type NamedNode,
  qemuIdentity,
  qosAcrossMigration,
  runtimeDisks,
  setUp,
  storage,
} from "../ganeti/harness.js";
import { ACCELERATOR } from "../helpers/accel.js";
import { INSTALLED } from "../package/install.js";
import {
  asWrittenBy30,
  enableHooks,
  GUEST,
  INSIDE,
  installPlugin,
  PAIR_KVM_PATH,
  pairQemu,
  TRIXIE,
  TRIXIE_PAIR,
  TRIXIE_ROOT,
  trixiePairNode,
  uninstallPlugin,
} from "./trixie.js";

const N1 = trixiePairNode(1); // stock QEMU until the upgrade
const N2 = trixiePairNode(2); // the plugin throughout
const INST = "gqb31m.ganeti.test";
const master = (cmd: string, ...args: string[]) => gnt(N1, cmd, ...args);
const cons = new Console(INST);
const checks = new Migrations(N1, [N1, N2], () => cons);
t.comment(`guest kernel: ${guestKernel()}; ${ACCELERATOR}`);

/** Starts (or reboots) the instance and waits for its guest to boot. */
async function boot(t: Test, on: NamedNode, ...cmd: string[]) {
  const r = master("gnt-instance", ...cmd, INST);
  t.equal(r.code, 0, `gnt-instance ${cmd.join(" ")}: ${lastLine(r)}`);
  await cons.boot(on);
}

/** The command line less what only a migration target has (-incoming and its address). */
const withoutIncoming = (argv: readonly string[]) => argv.filter((a, i) => a !== "-incoming" && argv[i - 1] !== "-incoming");

setUp(
  t,
  () => {
    guestFiles(); // built on the host, copied in with the project
    for (const step of ["up", "project"]) execFileSync("bash", [TRIXIE, step], { stdio: "inherit" });
    execFileSync("bash", [TRIXIE_PAIR, "up"], { stdio: "inherit" });
    installPlugin([N2]);
    pairQemu(N1, false);
    pairQemu(N2, true);
  },
  () => {
    cons.close();
    try {
      try {
        uninstallPlugin([N1, N2]);
      } finally {
        execFileSync("bash", [TRIXIE_PAIR, "down"], { stdio: "inherit" });
      }
    } finally {
      execFileSync("bash", [TRIXIE, "down"], { stdio: "inherit" });
    }
  },
);

let stockId: Awaited<ReturnType<typeof qemuIdentity>> | undefined;

t.test("from a stock 3.1 node to the launcher's node and back: the same machine, 3.1's arguments unchanged", async (t) => {
  addTestInstance(N1, INST, {
    template: "sharedfile",
    pnode: N1.name,
    memory: "128M",
    hv: `disk_type=paravirtual,cdrom_disk_type=ide,cdrom_image_path=${INSIDE.media}/one.iso,kvm_path=${PAIR_KVM_PATH}`,
    guest: GUEST,
    io: true, // its guest measures I/O limits below
  });
  await boot(t, N1, "start");
  const stock = await storage(N1, INST);
  stockId = await qemuIdentity(N1, INST);
  t.ok(stock.argv.includes("-blockdev") && !stock.argv.includes("-drive"), "stock 3.1 wrote -blockdev itself");

  const there = await checks.migrate(t, INST, N1, N2);
  // Ganeti starts an instance paused (-S) and continues it once set up; a target it starts with
  // -incoming instead. Otherwise it gives both the same arguments.
  t.same(
    withoutIncoming(there.argv).slice(1),
    stock.argv.slice(1).filter((a) => a !== "-S"),
    "the launcher's target got Ganeti's arguments, not a word changed",
  );
  t.same(await qemuIdentity(N2, INST), stockId, "and runs as the stock QEMU did: argv[0], comm, binary, KVM attempt");
  await checks.hotAdd(t, INST);
  t.equal((await storage(N2, INST)).disks.length, 3, "three disks in QEMU on the launcher's node");

  const back = await checks.migrate(t, INST, N2, N1);
  t.equal(back.disks.length, 3, "back on stock QEMU with all three");
  t.equal(runtimeDisks(N1, INST), 3, "node 1's runtime file lists them");
  await checks.hotAdd(t, INST);
});

t.test("the upgrade: an instance whose runtime file 3.0 wrote migrates both ways with the plugin on both nodes", async (t) => {
  enableHooks(N1);
  pairQemu(N1, true);
  asWrittenBy30(N1, INST, `${INSIDE.media}/one.iso`);
  await boot(t, N1, "reboot", "--type=soft", "--shutdown-timeout=0");
  const s = await allBlockdev(t, N1, INST, "3.0's runtime file, soft reboot under 3.1");
  const disks = s.disks.length;
  t.notOk(
    s.argv.some((a) => a.includes("discard=default")),
    "discard=default mended",
  );

  await checks.migrate(t, INST, N1, N2);
  const there = await allBlockdev(t, N2, INST, "migrated to node 2");
  t.equal(there.disks.length, disks, "every disk");
  t.notOk(
    there.argv.some((a) => a.includes("discard=default")),
    "discard=default mended on the target too",
  );
  // 3.1's own hot-add builds its -blockdev from the runtime file's disk_discard, which 3.0 left at
  // "default" and QEMU refuses: Ganeti warns and records nothing; the hook attaches the disk,
  // records it and mends the runtime file, so that the next hot-add is 3.1's own, with no warning.
  const out = await checks.hotAdd(t, INST, true);
  t.match(out, /disk\/\d+ -> hotplug:failed/, "3.1's own hot-add failed, as it does without the plugin");
  t.equal(runtimeDisks(N2, INST), disks + 1, "the hook recorded the disk it attached");
  await checks.hotAdd(t, INST);
  const r = master("gnt-instance", "grow-disk", INST, "0", "16M");
  t.equal(r.code, 0, `a grow-disk there: ${lastLine(r)}`);

  await checks.migrate(t, INST, N2, N1);
  t.equal((await allBlockdev(t, N1, INST, "and back on node 1")).disks.length, disks + 2, "the hot-added disks with it");
  t.equal(runtimeDisks(N1, INST), disks + 2, "node 1's runtime file lists them");
});

t.test(
  "disk-qos: a group set live, kept by a live migration to node 2, changed live there; the guest measures each",
  async (t) => {
    await qosAcrossMigration(t, {
      inst: INST,
      from: N1,
      to: N2,
      master: N1,
      command: INSTALLED.command,
      checks,
      cons,
      // The link names the file as the chroot sees it.
      diskFile: (n, i) => join(TRIXIE_ROOT, readlinkSync(join(n.run, "instance-disks", `${INST}:${i}`))),
    });
    await checks.migrate(t, INST, N2, N1);
  },
);

t.test("no guest restarted on its own: boots seen are the ones Ganeti was asked for (and migration resets)", async (t) => {
  const boots = cons.boots();
  t.comment(`${boots.afterMigration} reset(s) by QEMU after a migration`);
  t.equal(boots.asked, 2, "its start and the soft reboot");
  t.equal(boots.onItsOwn, 0, "no other boot");
});
