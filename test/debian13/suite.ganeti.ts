// npm run test:ganeti, Debian 13: the plugin under a real Ganeti 3.1 (3.1.0~rc2) with QEMU 10.0 and
// Node 20.19, all Debian 13's own, in the trixie chroot of test/debian13/trixie.sh (its daemons on
// 127.0.20.1, its names in its own UTS namespace). Installed as the README says, driven only
// through Ganeti's CLI, the test guest booted in the instances. Ganeti 3.1 writes -blockdev itself:
// the launcher must pass its storage arguments on as they are, and the hooks must work beside 3.1's
// own QMP hot-plug: attach nothing it chose not to attach, finish what it leaves undone.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { guestFiles, guestKernel } from "../../lab/guest.js";
import { diskDeviceId } from "../../src/blockdev/ids.js";
import { listField } from "../../src/ganeti/cli-output.js";
import {
  addTestInstance,
  allBlockdev,
  Console,
  enforcedLimits,
  gnt,
  lastLine,
  layout,
  type NamedNode,
  qemuIdentity,
  qemuPid,
  runtimeDisks,
  setUp,
  storage,
  verifyHookFailed,
  verifyReport,
  withQmp,
} from "../ganeti/harness.js";
import { ACCELERATOR } from "../helpers/accel.js";
import {
  asWrittenBy30,
  disableHooks,
  enableHooks,
  GUEST,
  INSIDE,
  installPlugin,
  LAUNCHER,
  TRIXIE,
  trixieNode,
  uninstallPlugin,
} from "./trixie.js";

const PV = "gqb31.ganeti.test";
const SCSI = "gqb31s.ganeti.test";

let node: NamedNode;
const run = (cmd: string, ...args: string[]) => gnt(node, cmd, ...args);
const consoles = new Map<string, Console>();
const consoleOf = (inst: string) => consoles.get(inst) ?? (consoles.set(inst, new Console(inst)).get(inst) as Console);
t.comment(`guest kernel: ${guestKernel()}; ${ACCELERATOR}`);

/** Where each instance's last boot begins in its console text. */
const booted = new Map<string, number>();
/** Starts (or reboots) an instance and waits for its guest; returns where its console output begins. */
async function boot(t: Test, inst: string, ...cmd: string[]): Promise<number> {
  const cons = consoleOf(inst);
  booted.set(inst, cons.text.length);
  const r = run("gnt-instance", ...cmd, inst);
  t.equal(r.code, 0, `gnt-instance ${cmd.join(" ")} ${inst}: ${lastLine(r)}`);
  return cons.boot(node);
}

/** A gnt-instance modify that must succeed with no hook failing ("WARNING: On <node> script <hook> failed"). */
function modify(t: Test, ...args: string[]) {
  const r = run("gnt-instance", "modify", ...args);
  t.equal(r.code, 0, `modify ${args.join(" ")}: ${lastLine(r)}`);
  t.notMatch(r.out, /script \S+ failed/, "no hook failed");
  return r;
}

/** The disks QEMU has, checking that no block node is left without a device. */
const disksOf = async (t: Test, inst: string) => {
  const s = await storage(node, inst);
  t.same(s.orphans, [], `${inst}: no block node left without a device`);
  return s.disks.length;
};

setUp(
  t,
  () => {
    guestFiles(); // built on the host, copied in with the project
    for (const step of ["up", "project", "cluster"]) execFileSync("bash", [TRIXIE, step], { stdio: "inherit" });
    node = trixieNode();
    t.comment(run("qemu-system-x86_64", "--version").out.split("\n")[0] as string);
    for (const inst of run("gnt-instance", "list", "--no-headers", "-o", "name").out.split("\n").filter(Boolean))
      run("gnt-instance", "remove", "-f", "--shutdown-timeout=0", inst);
    // The README's install: the package, enable (the hooks), the config file; the launcher as
    // kvm_path per instance below.
    installPlugin([node]);
  },
  () => {
    for (const c of consoles.values()) c.close();
    // The chroot stays for the next run (its cluster too, emptied at the next set-up); the plugin
    // does not.
    try {
      if (node) uninstallPlugin([node]);
    } finally {
      execFileSync("bash", [TRIXIE, "down"], { stdio: "inherit" });
    }
  },
);

t.test("stock 3.1 and the launcher start the same machine: same argv, layout, ids, and QEMU's name", async (t) => {
  addTestInstance(node, PV, {
    template: "file",
    pnode: node.name,
    memory: "256M",
    hv: `disk_type=paravirtual,cdrom_disk_type=ide,cdrom_image_path=${INSIDE.media}/one.iso`,
    guest: GUEST,
  });
  await boot(t, PV, "start");
  const stock = { s: await storage(node, PV), layout: await layout(node, PV), id: await qemuIdentity(node, PV) };
  t.ok(stock.s.argv.includes("-blockdev") && !stock.s.argv.includes("-drive"), "Ganeti 3.1 wrote -blockdev itself");
  t.ok(stock.id.triedKvm, "stock QEMU, run as /usr/bin/kvm, tried KVM first");
  t.equal(run("gnt-instance", "shutdown", "--timeout=0", PV).code, 0);
  t.equal(run("gnt-instance", "modify", "-H", `kvm_path=${LAUNCHER}`, PV).code, 0);
  await boot(t, PV, "start");
  const via = { s: await storage(node, PV), layout: await layout(node, PV), id: await qemuIdentity(node, PV) };
  t.same(via.s.argv.slice(1), stock.s.argv.slice(1), "QEMU got 3.1's own arguments, not a word changed");
  t.same(via.layout, stock.layout, "the guest sees the same PCI functions and storage devices; the same ids");
  t.same(via.id, stock.id, "argv[0], comm, binary and the KVM attempt: as stock");
});

t.test("hot-add by default: Ganeti 3.1 attaches and records it; the guest sees it; the hook adds nothing", async (t) => {
  const cons = consoleOf(PV);
  const from = cons.text.length;
  const before = await disksOf(t, PV);
  const r = modify(t, "--disk", "add:size=16M", PV);
  t.match(r.out, /hotplug:done/);
  await cons.waitFor(/GUEST: add vd[a-z]/, from);
  t.equal(await disksOf(t, PV), before + 1, "one disk more in QEMU, not two");
  t.equal(runtimeDisks(node, PV), before + 1, "and in the runtime file");
});

t.test("hot-add with --no-hotplug: nothing is attached, as Ganeti was told", async (t) => {
  const before = await disksOf(t, PV);
  const runtimeBefore = runtimeDisks(node, PV);
  const r = modify(t, "--no-hotplug", "--disk", "add:size=16M", PV);
  t.notMatch(r.out, /hotplug:/, "Ganeti hot-plugged nothing");
  t.equal(await disksOf(t, PV), before, "QEMU has no new disk");
  t.equal(runtimeDisks(node, PV), runtimeBefore, "the runtime file is unchanged");
});

t.test("hot-remove by default: gone from the guest and QEMU, no node left", async (t) => {
  const cons = consoleOf(PV);
  const from = cons.text.length;
  const before = await disksOf(t, PV);
  modify(t, "--disk", "2:remove", PV);
  await cons.waitFor(/GUEST: remove vd[a-z]/, from);
  t.equal(await disksOf(t, PV), before - 1);
  t.equal(runtimeDisks(node, PV), before - 1, "and from the runtime file");
});

t.test("disk-qos: 3.1's own hot-add gets the new disk's limits at once; 3.1's own hot-remove leaves nothing", async (t) => {
  const cons = consoleOf(PV);
  const field = (f: string) => run("gnt-instance", "list", "--no-headers", "-o", f, PV).out.trim();
  const before = await disksOf(t, PV);
  const index = Number(field("disk.count"));
  t.equal(run("gnt-instance", "add-tags", PV, `disk-qos:disk${index}:iops:200`).code, 0);
  const from = cons.text.length;
  const r = modify(t, "--disk", "add:size=16M", PV);
  t.match(r.out, /hotplug:done/, "Ganeti 3.1 hot-added it itself");
  await cons.waitFor(/GUEST: add vd[a-z]/, from);
  const id = diskDeviceId(listField(field("disk.uuids"))[index] ?? "");
  t.same((await enforcedLimits(node, PV)).get(id), { iops: 200, group: id }, "the hook set its limits (query-block)");
  const gone = cons.text.length;
  modify(t, "--disk", `${index}:remove`, PV);
  await cons.waitFor(/GUEST: remove vd[a-z]/, gone);
  t.equal(await disksOf(t, PV), before, "3.1's own hot-remove of a limited disk: gone, no node left");
  t.notOk((await enforcedLimits(node, PV)).has(id), "nothing of it left in QEMU");
  t.equal(run("gnt-instance", "remove-tags", PV, `disk-qos:disk${index}:iops:200`).code, 0);
});

t.test("grow-disk on the running instance: QEMU gives the guest the new size", async (t) => {
  const size = () =>
    withQmp(node, PV, async (q) => {
      const b = await q.execute<{ inserted?: { "node-name": string; image: { "virtual-size": number } } }[]>("query-block");
      return b.find((x) => x.inserted?.["node-name"].startsWith("disk-"))?.inserted?.image["virtual-size"] ?? 0;
    });
  const before = await size();
  const r = run("gnt-instance", "grow-disk", PV, "0", "32M");
  t.equal(r.code, 0, lastLine(r));
  t.equal(await size(), before + 32 * 1024 * 1024, "disk 0 is 32 MiB larger in QEMU");
  await disksOf(t, PV);
});

t.test("a CD-ROM change on 3.1's anonymous IDE CD-ROM: the guest reads the new medium, then nothing", async (t) => {
  const cons = consoleOf(PV);
  const medium = (expected: string, previous?: string) => ({
    re: /GUEST: media sr0 data=(?<state>\S*)/,
    expected,
    ...(previous === undefined ? {} : { previous }),
  });
  // The known state before the change is QEMU's: the guest's first report of it, made while the
  // hot-add before this test plugs a PCI function, can be lost on the serial console with the
  // kernel's messages (seen twice in CI). So the guest may still report MEDIUM-ONE, late, while the
  // wait for MEDIUM-TWO goes on; any third medium fails it at once.
  const inserted = await withQmp(node, PV, (q) => q.execute<{ qdev: string; inserted?: { file: string } }[]>("query-block"));
  t.ok(
    inserted.some((b) => b.inserted?.file.endsWith("/one.iso")),
    "before the change, QEMU's CD-ROM holds one.iso",
  );
  let from = cons.text.length;
  modify(t, "-H", `cdrom_image_path=${INSIDE.media}/two.iso`, PV);
  const seen = await cons.seen(medium("MEDIUM-TWO", "MEDIUM-ONE"), from);
  t.equal(seen.match.groups?.["state"], "MEDIUM-TWO", "the guest reads the new medium, without a restart");
  from = seen.end;
  modify(t, "-H", "cdrom_image_path=", PV);
  const gone = await cons.seen(medium("", "MEDIUM-TWO"), from);
  t.equal(gone.match.groups?.["state"], "", "an empty value ejects it");
});

t.test("hard and soft reboots through the launcher stay on 3.1's -blockdev", async (t) => {
  for (const type of ["hard", "soft"]) {
    await boot(t, PV, "reboot", `--type=${type}`, "--shutdown-timeout=0");
    const s = await allBlockdev(t, node, PV, `${type} reboot`);
    t.equal(s.disks.length, runtimeDisks(node, PV), `${type} reboot: every disk of the runtime file`);
    t.equal((await qemuIdentity(node, PV)).argv0, "/usr/bin/kvm", "run as /usr/bin/kvm");
  }
});

t.test("the upgrade: an instance whose runtime file 3.0 wrote stays manageable under 3.1 and the launcher", async (t) => {
  modify(t, "-H", `cdrom_image_path=${INSIDE.media}/one.iso`, PV);
  await boot(t, PV, "reboot", "--type=hard", "--shutdown-timeout=0");
  asWrittenBy30(node, PV, `${INSIDE.media}/one.iso`);
  // Stock 3.1 cannot run this file: its -blockdev says discard=default, which QEMU refuses.
  await boot(t, PV, "reboot", "--type=soft", "--shutdown-timeout=0");
  const s = await allBlockdev(t, node, PV, "3.0's runtime file, soft reboot under 3.1");
  t.notOk(
    s.argv.some((a) => a.includes("discard=default")),
    "discard=default mended (3.0 meant QEMU's default)",
  );
  t.ok(
    s.argv.some((a) => a.includes('"node-name":"cdrom1"')),
    "3.0's CD-ROM -drive on -blockdev",
  );
  const cons = consoleOf(PV);
  let from = cons.text.length;
  const disks = await disksOf(t, PV);
  modify(t, "--disk", "add:size=16M", PV);
  await cons.waitFor(/GUEST: add vd[a-z]/, from);
  t.equal(await disksOf(t, PV), disks + 1, "a hot-add after it");
  from = cons.text.length;
  modify(t, "--disk", `${disks}:remove`, PV);
  await cons.waitFor(/GUEST: remove vd[a-z]/, from);
  t.equal(await disksOf(t, PV), disks, "and a hot-remove");
  const r = run("gnt-instance", "grow-disk", PV, "0", "16M");
  t.equal(r.code, 0, `and a grow-disk: ${lastLine(r)}`);
});

t.test("SCSI: 3.1 says hotplug:failed but QEMU has the disk; the hook records it, and the remove is clean", async (t) => {
  addTestInstance(node, SCSI, {
    template: "file",
    pnode: node.name,
    memory: "256M",
    hv: `disk_type=scsi-hd,scsi_controller_type=virtio-scsi-pci,kvm_path=${LAUNCHER}`,
    disks: ["0:size=32M"],
    guest: GUEST,
  });
  await boot(t, SCSI, "start");
  const cons = consoleOf(SCSI);
  let from = cons.text.length;
  const add = run("gnt-instance", "modify", "--disk", "add:size=16M", SCSI);
  t.equal(add.code, 0, lastLine(add));
  t.comment(`Ganeti says: ${/disk\/1 -> hotplug:\S+/.exec(add.out)?.[0] ?? "?"}`);
  await cons.waitFor(/GUEST: add sd[a-z]/, from);
  t.equal(await disksOf(t, SCSI), 2, "QEMU has both disks");
  t.equal(runtimeDisks(node, SCSI), 2, "and the runtime file records the new one (3.1 alone does not)");
  from = cons.text.length;
  modify(t, "--disk", "1:remove", SCSI);
  await cons.waitFor(/GUEST: remove sd[a-z]/, from);
  const s = await storage(node, SCSI);
  t.equal(s.disks.length, 1, "removed from QEMU, not left attached to a deleted image");
  t.same(s.deleted, [], "no fd open on a deleted file");
  t.equal(runtimeDisks(node, SCSI), 1);
});

t.test(
  "security_model=user (#1917): wherever 3.1 falls back to the removed -runas, the launcher runs QEMU as the user",
  async (t) => {
    const USER = "gqb31u.ganeti.test";
    addTestInstance(node, USER, {
      template: "file",
      pnode: node.name,
      memory: "128M",
      hv: "security_model=user,security_domain=nobody",
      guest: GUEST,
    });
    // What this QEMU still has, asked of it: 3.1.0~rc2 misreads QEMU >= 10.2's -run-with help and
    // writes -runas, which QEMU 10.0 removed.
    const help = run("qemu-system-x86_64", "-help").out;
    const hasRunas = /^-runas /m.test(help);
    const stock = run("gnt-instance", "start", USER);
    if (stock.code === 0) {
      t.comment(`stock 3.1 starts it on this QEMU (${hasRunas ? "it has -runas" : "3.1 wrote -run-with"})`);
      t.equal(run("gnt-instance", "shutdown", "--timeout=0", USER).code, 0);
    } else {
      t.notOk(hasRunas, "stock 3.1 fails only where QEMU has no -runas");
      t.match(stock.out, /runas/, `stock 3.1 fails on -runas: ${lastLine(stock)}`);
    }
    t.equal(run("gnt-instance", "modify", "-H", `kvm_path=${LAUNCHER}`, USER).code, 0);
    await boot(t, USER, "start");
    const pid = qemuPid(node, USER) as number;
    const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    t.equal(uid?.[2], "65534", "QEMU runs as nobody (its effective uid)");
    t.equal(run("gnt-instance", "remove", "-f", "--shutdown-timeout=0", USER).code, 0);
  },
);

t.test(
  "gnt-cluster verify under 3.1: fails on the node with the plugin disabled, with the line that says so; passes once enabled",
  async (t) => {
    // A chroot's node fails verify on its own (no /proc/sysrq-trigger, no sshd, no bridge): what
    // counts is whether Ganeti counted the plugin's hook as failed.
    const enabled = run("gnt-cluster", "verify");
    t.equal(verifyReport(enabled.out), "", `enabled: the plugin's hook has nothing to report: ${enabled.out}`);
    t.notOk(verifyHookFailed(enabled.out), "enabled: the hook does not fail verify");
    // disable keeps the cluster-verify hook, which then reports the node.
    disableHooks(node);
    const disabled = run("gnt-cluster", "verify");
    t.not(disabled.code, 0, "disabled: verify fails");
    t.ok(verifyHookFailed(disabled.out), "disabled: Ganeti counts the plugin's hook as failed");
    t.match(
      verifyReport(disabled.out),
      `ganeti-qemu-blockdev: ${node.name}: the plugin is disabled: hooks not linked in /etc/ganeti/hooks`,
      "one line naming the node and why",
    );
    enableHooks(node);
    const again = run("gnt-cluster", "verify");
    t.equal(verifyReport(again.out), "", "enabled again: nothing to report");
    t.notOk(verifyHookFailed(again.out), "enabled again: the hook does not fail verify");
    t.equal(again.code, enabled.code, "and verify ends as it did before");
  },
);
