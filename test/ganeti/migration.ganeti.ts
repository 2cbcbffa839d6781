// npm run test:ganeti, two nodes: live migration under a real Ganeti 3.0.2, with the plugin
// installed the README way on both nodes (the .deb with apt, then `ganeti-qemu-blockdev enable`), by
// diversion: the QEMU binary every instance is started
// with (here a test path standing for /usr/bin/kvm, never that one) becomes the launcher. An
// instance started before the install runs stock QEMU with -drive; one started after runs on
// -blockdev. Both are migrated between the nodes through Ganeti's CLI, with the test guest running.
// test/ganeti/two-nodes.sh brings the nodes up (namespaces: the host's hostname and /etc/hosts are
// never changed) and down, killing what they started by pid, even when a check fails.
import { execFileSync } from "node:child_process";
import { existsSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { guestKernel } from "../../lab/guest.js";
import { HOOK_LINKS } from "../../src/host/plugin-files.js";
import { ACCELERATOR } from "../helpers/accel.js";
import { hookLink } from "../helpers/node-setup.js";
import { INSTALLED } from "../package/install.js";
import {
  addTestInstance,
  allBlockdev,
  Console,
  lastLine,
  layout,
  Migrations,
  type NamedNode,
  qemuIdentity,
  qemuPid,
  qosAcrossMigration,
  runtimeDisks,
  storage,
  verifyHookFailed,
  verifyReport,
} from "./harness.js";
import { KVM, master, N1, N2, twoNodeSuite } from "./two-node-suite.js";

const SHARED = "/srv/gqb-two-nodes"; // two-nodes.sh's sharedfile directory, seen by both nodes
t.comment(`guest kernel: ${guestKernel()}; ${ACCELERATOR}`);

/** How the stock QEMU of the instance started before the plugin runs (argv[0], comm, its KVM attempt). */
let stockIdentity: Awaited<ReturnType<typeof qemuIdentity>> | undefined;
const COMMAND = INSTALLED.command;
const OLD = "gqb-old.ganeti.test"; // started by stock QEMU, before the plugin was installed
const NEW = "gqb-new.ganeti.test"; // started after: on -blockdev from the start

const consoles = new Map([OLD, NEW].map((i) => [i, new Console(i)]));
const consoleOf = (inst: string) => consoles.get(inst) as Console;
const checks = new Migrations(N1, [N1, N2], consoleOf);
const migrate = checks.migrate.bind(checks);
const hotAdd = checks.hotAdd.bind(checks);

const addInstance = (name: string, hv: string, io = false) =>
  addTestInstance(N1, name, { template: "sharedfile", pnode: N1.name, memory: "128M", hv, io });

/** Starts (or reboots) an instance and waits for its guest to boot. */
async function boot(t: Test, on: NamedNode, inst: string, ...cmd: string[]) {
  const r = master("gnt-instance", ...cmd, inst);
  t.equal(r.code, 0, `gnt-instance ${cmd.join(" ")} ${inst}: ${lastLine(r)}`);
  await consoleOf(inst).boot(on);
}

twoNodeSuite(t, {
  close: () => {
    for (const c of consoles.values()) c.close();
  },
});

t.test("before the plugin: an instance started by stock QEMU, on -drive", async (t) => {
  // With an IDE CD-ROM: Ganeti's legacy if=ide drive is where QEMU's own placement rules, which the
  // launcher must reproduce, decide what the guest sees.
  const iso = join(SHARED, "medium.iso");
  writeFileSync(iso, Buffer.alloc(1 << 20));
  addInstance(OLD, `disk_type=paravirtual,cdrom_image_path=${iso},cdrom_disk_type=ide`);
  await boot(t, N1, OLD, "start");
  const s = await storage(N1, OLD);
  t.equal(s.argv[0], KVM, "started by the cluster's kvm_path");
  t.equal(s.legacy.length, 3, "both disks and the CD-ROM on -drive backends");
  stockIdentity = await qemuIdentity(N1, OLD);
  t.ok(stockIdentity.triedKvm, "stock QEMU, named ...kvm, tried KVM first (its log says so)");
});

t.test("the install, as the README says, on both nodes: enable links the hooks and diverts QEMU to the launcher", async (t) => {
  // One diversion serves both nodes here: they share /usr and /etc/ganeti-qemu-blockdev
  // (two-nodes.sh); each has its own hooks directory.
  const first = execFileSync(COMMAND, ["enable", "--path", KVM, "--hooks-dir", N1.hooks], { encoding: "utf8" });
  t.match(first, `names ${KVM}.distrib as the real QEMU`);
  const second = execFileSync(COMMAND, ["enable", "--path", KVM, "--hooks-dir", N2.hooks], { encoding: "utf8" });
  t.match(second, `${KVM} is the launcher already`);
  for (const n of [N1, N2])
    for (const { hook, link } of HOOK_LINKS)
      t.equal(readlinkSync(join(n.hooks, link)), INSTALLED.hook(hook), `${n.name}: ${link} linked to the package's hook`);
  t.ok(qemuPid(N1, OLD), "the instance started before keeps running");
});

t.test(
  "gnt-cluster verify on two nodes: passes with the plugin on both; a node with its hooks gone fails it, by name",
  async (t) => {
    // The master's hook asks node 2's plugin over SSH, as Ganeti's master asks its nodes.
    // The loopback nodes fail verify on their own (no /proc/sysrq-trigger, no bridge): what counts
    // is whether Ganeti counted the plugin's hook as failed.
    const both = master("gnt-cluster", "verify");
    t.equal(verifyReport(both.out), "", `the plugin on both nodes: nothing to report: ${both.out}`);
    t.notOk(verifyHookFailed(both.out), "the plugin on both nodes: its hook does not fail verify");
    rmSync(join(N2.hooks, hookLink(1).link));
    const one = master("gnt-cluster", "verify");
    t.not(one.code, 0, "node 2's hooks incomplete: verify fails");
    t.ok(verifyHookFailed(one.out), "node 2's hooks incomplete: Ganeti counts the plugin's hook as failed");
    t.match(
      verifyReport(one.out),
      `ganeti-qemu-blockdev: ${N2.name}: the plugin is disabled: hooks not linked in /etc/ganeti/hooks: ${hookLink(1).hook}`,
      "one line naming node 2 and why",
    );
    execFileSync(COMMAND, ["enable", "--path", KVM, "--hooks-dir", N2.hooks], { encoding: "utf8" });
    const again = master("gnt-cluster", "verify");
    t.equal(verifyReport(again.out), "", "enabled again: nothing to report");
    t.notOk(verifyHookFailed(again.out), "enabled again: the hook does not fail verify");
  },
);

t.test("an instance started after the install: -blockdev, migrated to node 2 and back", async (t) => {
  addInstance(NEW, "disk_type=scsi-hd,scsi_controller_type=virtio-scsi-pci", true); // its guest measures I/O limits below
  await boot(t, N1, NEW, "start");
  const started = await allBlockdev(t, N1, NEW, "start");
  t.same(await qemuIdentity(N1, NEW), stockIdentity, "argv[0], comm, binary and the KVM attempt in its log: as stock");
  t.equal(started.disks.length, 2);

  const ids = (await layout(N1, NEW)).ids;
  const there = await migrate(t, NEW, N1, N2);
  await allBlockdev(t, N2, NEW, "on node 2");
  t.same(there.disks, started.disks, "the same -blockdev nodes");
  t.same(there.ids, ids, "exactly the same device ids");
  t.same(
    await qemuIdentity(N2, NEW),
    stockIdentity,
    "the migration target (-incoming) runs as stock QEMU: argv[0], comm, KVM attempt",
  );

  await hotAdd(t, NEW);
  const added = await allBlockdev(t, N2, NEW, "after the hot-add on node 2");
  t.equal(added.disks.length, 3, "three -blockdev disks");
  t.equal(runtimeDisks(N2, NEW), 3, "node 2's runtime file lists it");

  const back = await migrate(t, NEW, N2, N1);
  await allBlockdev(t, N1, NEW, "back on node 1");
  t.same(back.disks, added.disks, "the hot-added disk came back with it, on -blockdev");
  t.equal(runtimeDisks(N1, NEW), 3, "node 1's runtime file lists it");
});

t.test(
  "disk-qos: a group set live, kept by a live migration to node 2, changed live there; the guest measures each",
  async (t) => {
    await qosAcrossMigration(t, {
      inst: NEW,
      from: N1,
      to: N2,
      master: N1,
      command: COMMAND,
      checks,
      cons: consoleOf(NEW),
      diskFile: (n, i) => realpathSync(join(n.run, "instance-disks", `${NEW}:${i}`)),
    });
    await migrate(t, NEW, N2, N1); // back where the tests after this one expect it
  },
);

t.test("the upgrade: the stock -drive instance migrates into the diverted node and arrives on -blockdev", async (t) => {
  await migrate(t, OLD, N1, N2);
  const s = await allBlockdev(t, N2, OLD, "migrated into node 2");
  t.same(await qemuIdentity(N2, OLD), stockIdentity, "the launcher's target runs as stock QEMU did: argv[0], comm, KVM attempt");
  t.equal(s.disks.length, 2, "both disks");
  await hotAdd(t, OLD);
  t.equal((await allBlockdev(t, N2, OLD, "after a hot-add")).disks.length, 3, "three -blockdev disks");
});

t.test("gnt-instance reboot --type=soft on the target keeps -blockdev", async (t) => {
  await boot(t, N2, OLD, "reboot", "--type=soft", "--shutdown-timeout=0");
  const s = await allBlockdev(t, N2, OLD, "soft reboot on node 2");
  t.equal(s.disks.length, 3, "all three disks, the hot-added one too");
});

t.test("disable: running instances untouched; -blockdev instances then migrate to stock QEMU", async (t) => {
  const pids = [qemuPid(N1, NEW), qemuPid(N2, OLD)];
  const out = execFileSync(COMMAND, ["disable", "--path", KVM, "--hooks-dir", N1.hooks], { encoding: "utf8" });
  t.match(out, `${KVM} is QEMU again (was the launcher)`);
  t.match(out, `removed the diversion of ${KVM}`);
  execFileSync(COMMAND, ["disable", "--path", KVM, "--hooks-dir", N2.hooks], { encoding: "utf8" });
  for (const n of [N1, N2]) t.notOk(existsSync(join(n.hooks, hookLink(0).link)), `${n.name}: the hook links are gone`);
  t.same([qemuPid(N1, NEW), qemuPid(N2, OLD)], pids, "both QEMUs still run");
  // Ganeti's runtime holds its own -drive command line: the target runs it with stock QEMU, and the
  // guest must not notice, since the launcher kept Ganeti's layout.
  for (const [inst, from, to, drives] of [
    [NEW, N1, N2, 3],
    [OLD, N2, N1, 4],
  ] as const) {
    await migrate(t, inst, from, to);
    const s = await storage(to, inst);
    t.equal(s.argv[0], KVM, `${to.name} ran the binary at the kvm_path, stock QEMU again`);
    t.equal(s.legacy.length, drives, `${inst}: every disk (and CD-ROM) on a -drive backend`);
  }
  // The hooks alone (as with kvm_path) still hot-add into the stock QEMU's -drive machine.
  for (const n of [N1, N2]) execFileSync(COMMAND, ["enable", "--hooks-only", "--hooks-dir", n.hooks], { encoding: "utf8" });
  await hotAdd(t, NEW);
});

t.test("no guest restarted on its own: boots seen are the ones Ganeti was asked for (and migration resets)", async (t) => {
  for (const [inst, asked, what] of [
    [NEW, 1, "its start"],
    [OLD, 2, "its start and the soft reboot"],
  ] as const) {
    const boots = consoleOf(inst).boots();
    t.comment(`${inst}: ${boots.afterMigration} reset(s) by QEMU after a migration`);
    t.equal(boots.asked, asked, `${inst}: ${what}`);
    t.equal(boots.onItsOwn, 0, `${inst}: no other boot`);
  }
});
