// npm run test:ganeti: the plugin under a real, single-node Ganeti 3.0.2 (Debian's package), set up
// as the README says (the plugin's .deb installed with apt, then `ganeti-qemu-blockdev enable`: the
// hooks linked, /usr/bin/kvm, the cluster's kvm_path, diverted to the launcher), driven only through
// Ganeti's own CLI, with the project's test guest booted in the instance. As root; every address
// is in 127.0.0.0/8; test/ganeti/cluster.sh brings the cluster up and takes it down again, the
// machine's names restored, even when a check fails.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { guestKernel, ioPass, markIoTest, mibps, nearCap } from "../../lab/guest.js";
import { diskDeviceId } from "../../src/blockdev/ids.js";
import { listField } from "../../src/ganeti/cli-output.js";
import { HOOK_LINKS } from "../../src/host/plugin-files.js";
import { QmpClient } from "../../src/qmp/client.js";
import { runningLimits } from "../../src/qos/running.js";
import { ACCELERATOR } from "../helpers/accel.js";
import { ROOT } from "../helpers/hook.js";
import { REAL_QEMU } from "../helpers/launcher.js";
import { INSTALLED, installedVersion, installPackage, pluginCommand, purgePackage, upgradePackage } from "../package/install.js";
import {
  addTestInstance,
  allBlockdev as allBlockdevOn,
  Console,
  ctrlSocket,
  type GanetiNode,
  gnt as gntOn,
  keepPluginFiles,
  lastLine,
  pidFile,
  qemuIdentity,
  qemuPid,
  runtimeDisks as runtimeDisksOf,
  setUp,
  storage as storageOf,
  verifyHookFailed,
  verifyReport,
  withQmp,
  writePluginConfig,
} from "./harness.js";

const INST = "gqb1.ganeti.test";
const NODE = "gnt-node1.ganeti.test";
/** This machine is the cluster's one node. */
const HERE: GanetiNode = { run: "/var/run/ganeti", hooks: "/etc/ganeti/hooks", log: "/var/log/ganeti", enter: [] };
const PIDFILE = pidFile(HERE, INST);
const QMP = ctrlSocket(HERE, INST, "qmp");
const CLUSTER = join(ROOT, "test/ganeti/cluster.sh");

const gnt = (cmd: string, ...args: string[]) => gntOn(HERE, cmd, ...args);
t.comment(`guest kernel: ${guestKernel()}; ${ACCELERATOR}`);
// This machine's QEMU, or bookworm-backports' where the suite runs in qemu-backports.sh's namespace.
t.comment(execFileSync(REAL_QEMU, ["--version"], { encoding: "utf8" }).split("\n")[0] as string);
const storage = () => storageOf(HERE, INST);
const runtimeDisks = () => runtimeDisksOf(HERE, INST);
const allBlockdev = (t: Test, what: string) => allBlockdevOn(t, HERE, INST, what);

const cons = new Console(INST);
let restorePluginFiles = () => {};

setUp(
  t,
  () => {
    execFileSync("bash", [CLUSTER, "up"], { stdio: "inherit" });
    // The README's install: the package, then enable (hooks, and /usr/bin/kvm diverted to the
    // launcher; the config names /usr/bin/kvm.distrib). A shorter unplug timeout for the tests.
    restorePluginFiles = keepPluginFiles();
    installPackage(HERE);
    pluginCommand(HERE, "enable");
    writePluginConfig({ qemu: "/usr/bin/kvm.distrib", timeouts: { unplug: 3 } });
    addTestInstance(HERE, INST, { template: "file", pnode: NODE, memory: "256M", hv: "disk_type=paravirtual", io: true });
  },
  () => {
    cons.close();
    try {
      try {
        purgePackage(HERE);
      } finally {
        restorePluginFiles();
      }
    } finally {
      execFileSync("bash", [CLUSTER, "down"], { stdio: "inherit" });
    }
  },
);

/** Starts (or reboots) the instance and waits for the guest; returns where its output begins. */
async function boot(t: Test, ...cmd: string[]): Promise<number> {
  const r = gnt("gnt-instance", ...cmd, INST);
  t.equal(r.code, 0, `gnt-instance ${cmd.join(" ")}: ${lastLine(r)}`);
  return cons.boot(HERE);
}

let disks = 2;

t.test("start: every disk on -blockdev, through the launcher", async (t) => {
  await boot(t, "start");
  const s = await allBlockdev(t, "start");
  t.equal(s.disks.length, 2, "both disks are -blockdev nodes");
  const id = await qemuIdentity(HERE, INST);
  t.same(
    { argv0: id.argv0, comm: id.comm, triedKvm: id.triedKvm },
    { argv0: "/usr/bin/kvm", comm: "kvm", triedKvm: true },
    "the configured QEMU runs as under a stock kvm_path=/usr/bin/kvm: argv[0], comm, and the KVM attempt in its log",
  );
});

t.test("modify --disk add without --hotplug: disk-add attaches it, the guest sees it", async (t) => {
  const from = cons.text.length;
  const r = gnt("gnt-instance", "modify", "--disk", "add:size=32M", INST);
  t.equal(r.code, 0, r.out);
  const seen = await cons.waitFor(/GUEST: add (vd[a-z])/, from);
  t.pass(`the guest sees /dev/${seen[1]}`);
  disks++;
  const s = await allBlockdev(t, "after the add");
  t.equal(s.disks.length, 3);
  t.equal(runtimeDisks(), 3, "the runtime file lists it");
});

t.test("modify --hotplug --disk add: Ganeti's own hot-add, recorded, and seen by the guest", async (t) => {
  const from = cons.text.length;
  const r = gnt("gnt-instance", "modify", "--hotplug", "--disk", "add:size=32M", INST);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /hotplug:done/);
  await cons.waitFor(/GUEST: add (vd[a-z])/, from);
  disks++;
  t.equal(runtimeDisks(), 4, "the runtime file lists it");
});

t.test("modify --hotplug --disk N:remove, hot-added and boot-time disks: gone from the guest, no node, no open fd", async (t) => {
  for (const index of [3, 1]) {
    const from = cons.text.length;
    const r = gnt("gnt-instance", "modify", "--hotplug", "--disk", `${index}:remove`, INST);
    t.equal(r.code, 0, r.out);
    await cons.waitFor(/GUEST: remove vd[a-z]/, from);
    disks--;
    const s = await storage();
    t.same(s.orphans, [], `disk/${index}: no block node left`);
    t.same(s.deleted, [], `disk/${index}: no fd open on a deleted file`);
    t.equal(s.disks.length, disks, `disk/${index}: ${disks} disks left`);
    t.equal(runtimeDisks(), disks, "and in the runtime file");
  }
});

t.test("a guest paused during a remove: clean after the next operation", async (t) => {
  let from = cons.text.length;
  t.equal(gnt("gnt-instance", "modify", "--disk", "add:size=32M", INST).code, 0);
  await cons.waitFor(/GUEST: add vd[a-z]/, from);
  const qmp = await QmpClient.connect(QMP);
  await qmp.execute("stop");
  qmp.close();
  const r = gnt("gnt-instance", "modify", "--hotplug", "--disk", `${disks}:remove`, INST);
  t.comment(r.out.trim().split("\n").slice(-3).join(" | "));
  const q2 = await QmpClient.connect(QMP);
  await q2.execute("cont");
  q2.close();
  from = cons.text.length;
  await cons.waitFor(/GUEST: remove vd[a-z]/, 0);
  // A later operation reconciles: here Ganeti's own hot-add, a legacy -drive the reboots below convert.
  const later = gnt("gnt-instance", "modify", "--hotplug", "--disk", "add:size=32M", INST);
  t.equal(later.code, 0, later.out);
  await cons.waitFor(/GUEST: add vd[a-z]/, from);
  const s = await storage();
  t.same(s.orphans, [], "no block node left");
  t.same(s.deleted, [], "no fd open on the deleted image");
  t.equal(s.legacy.length, 1, "Ganeti's hot-added disk runs on a legacy -drive backend");
  disks = s.disks.length + s.legacy.length;
  t.equal(runtimeDisks(), disks, "the runtime file lists exactly what QEMU has");
});

t.test("hard and soft reboots stay on -blockdev, and convert Ganeti's legacy hot-add", async (t) => {
  for (const type of ["hard", "soft"]) {
    await boot(t, "reboot", `--type=${type}`, "--shutdown-timeout=0");
    const s = await allBlockdev(t, `${type} reboot`);
    t.equal(s.disks.length, disks, `${type} reboot: all ${disks} disks`);
  }
});

t.test("a configuration the plugin refuses aborts the start, and Ganeti shows why", async (t) => {
  t.equal(gnt("gnt-instance", "shutdown", "--timeout=0", INST).code, 0);
  t.equal(gnt("gnt-instance", "modify", "-H", "cdrom_image_path=http://127.0.0.1:9/none.iso", INST).code, 0);
  const hook = gnt("gnt-instance", "start", INST);
  t.not(hook.code, 0, "the start fails");
  t.match(hook.out, /instance-start: error \[URL_UNREACHABLE\]/, "with the instance-start hook's line");
  t.notOk(existsSync(PIDFILE) && existsSync(`/proc/${readFileSync(PIDFILE, "utf8").trim()}`), "and no QEMU runs");
  t.equal(gnt("gnt-instance", "modify", "-H", "cdrom_image_path=,kvm_extra=-hda /nonexistent.img", INST).code, 0);
  const launcher = gnt("gnt-instance", "start", INST);
  t.not(launcher.code, 0, "a storage argument the launcher cannot place fails the start too");
  t.match(launcher.out, /qemu-launcher: error \[UNSUPPORTED_ARGV\]: argument -hda/, "with the launcher's line");
  t.equal(gnt("gnt-instance", "modify", "-H", "kvm_extra=", INST).code, 0);
  await boot(t, "start");
  await allBlockdev(t, "fixed");
});

t.test("temporary hvparams (start -H) reach QEMU through the launcher, on -blockdev", async (t) => {
  t.equal(gnt("gnt-instance", "shutdown", "--timeout=0", INST).code, 0);
  await boot(t, "start", "-H", "disk_type=scsi-hd,scsi_controller_type=virtio-scsi-pci");
  const s = await allBlockdev(t, "start -H disk_type=scsi-hd");
  t.ok(
    s.argv.some((a) => a.startsWith("scsi-hd,")),
    "the disks are scsi-hd devices, as the temporary hvparams say",
  );
  t.equal(s.disks.length, disks, `all ${disks} disks`);
});

t.test("gnt-instance grow-disk on the running instance: QEMU gives the guest the new size", async (t) => {
  const qmpSize = async () => {
    const qmp = await QmpClient.connect(QMP, { timeoutMs: 5000 });
    try {
      const blocks =
        await qmp.execute<{ qdev?: string; inserted?: { "node-name": string; image: { "virtual-size": number } } }[]>(
          "query-block",
        );
      return blocks.find((b) => b.inserted?.["node-name"].startsWith("disk-"))?.inserted?.image["virtual-size"];
    } finally {
      qmp.close();
    }
  };
  const before = await qmpSize();
  const r = gnt("gnt-instance", "grow-disk", INST, "0", "32M");
  t.equal(r.code, 0, r.out);
  t.equal(await qmpSize(), (before ?? 0) + 32 * 1024 * 1024, "disk 0 is 32 MiB larger in QEMU, without a restart");
});

t.test("gnt-instance modify -H cdrom_image_path= on the running instance: the medium changes now", async (t) => {
  // An IDE CD-ROM from the start: a hard reboot takes the new hvparams.
  const dir = "/srv/gqb-ganeti";
  const one = join(dir, "one.iso");
  const two = join(dir, "two.iso");
  for (const [f, marker] of [
    [one, "MEDIUM-ONE"],
    [two, "MEDIUM-TWO"],
  ] as const) {
    const data = Buffer.alloc(1 << 20);
    data.write(marker);
    writeFileSync(f, data);
  }
  t.equal(gnt("gnt-instance", "modify", "-H", `cdrom_image_path=${one},cdrom_disk_type=ide`, INST).code, 0);
  const booted = await boot(t, "reboot", "--type=hard", "--shutdown-timeout=0");
  // What the guest reads is a state: the expected medium ends the wait, another one fails it at once.
  // The guest reports the medium it booted with first, so the change starts from a known state.
  const medium = (expected: string) => ({ re: /GUEST: media sr0 data=(?<state>\S*)/, expected });
  let from = (await cons.seen(medium("MEDIUM-ONE"), booted)).end;
  const r = gnt("gnt-instance", "modify", "-H", `cdrom_image_path=${two}`, INST);
  t.equal(r.code, 0, r.out);
  const seen = await cons.seen(medium("MEDIUM-TWO"), from);
  t.equal(seen.match.groups?.["state"], "MEDIUM-TWO", "the guest reads the new medium, without a restart");
  from = seen.end;
  t.equal(gnt("gnt-instance", "modify", "-H", "cdrom_image_path=", INST).code, 0);
  const gone = await cons.seen(medium(""), from);
  t.equal(gone.match.groups?.["state"], "", "an empty value ejects it");
});

t.test(
  "disk-qos: tags: verify names the gap, qos sets them, a soft reboot and a hot-add keep them; the guest measures each",
  async (t) => {
    const MIB = 1 << 20;
    const link = (i: number) => `${HERE.run}/instance-disks/${INST}:${i}`;
    /** What QEMU enforces on disk i (its device id from the disk's uuid, as Ganeti names devices). */
    const enforced = async (i: number) => {
      const uuid = listField(gnt("gnt-instance", "list", "--no-headers", "-o", "disk.uuids", INST).out)[i] ?? "";
      return withQmp(HERE, INST, async (q) => (await runningLimits(q)).get(diskDeviceId(uuid))?.limits);
    };
    const near = (rate: number, what: string) => t.ok(nearCap(rate, MIB), `${what}: ${mibps(rate)}, cap 1 MiB/s`);
    const measure = (names: string[]) => ioPass((re, from) => cons.seen(re, from), names, cons.text.length);

    t.equal(gnt("gnt-instance", "add-tags", INST, "disk-qos:disk0:bps:1M").code, 0);
    const gap = gnt("gnt-cluster", "verify");
    t.ok(verifyHookFailed(gap.out), "a tag change runs no hook: verify fails");
    t.match(verifyReport(gap.out), `instance ${INST} on ${NODE}: disk0 runs with none, its tags ask bps 1M`, "and names the gap");
    const set = pluginCommand(HERE, "qos", INST);
    t.match(set, /set disk0 \(disk-[0-9a-f-]+\): bps 1M/, `qos on the master sets it: ${set}`);
    t.same(await enforced(0), { bps: MIB }, "query-block: disk 0 at 1 MiB/s");
    t.equal(verifyReport(gnt("gnt-cluster", "verify").out), "", "verify has nothing to say any more");
    markIoTest(realpathSync(link(0)), "G0");
    const [live] = await measure(["G0"]);
    near(live?.wr ?? 0, "the guest's writes on disk 0");
    near(live?.rd ?? 0, "and its reads");

    await boot(t, "reboot", "--type=soft", "--shutdown-timeout=0");
    t.same(await enforced(0), { bps: MIB }, "after a soft reboot: the launcher set it again");
    const [rebooted] = await measure(["G0"]);
    near(rebooted?.wr ?? 0, "the guest's writes after the reboot");

    const index = disks;
    t.equal(gnt("gnt-instance", "add-tags", INST, `disk-qos:disk${index}:bps-wr:1M`).code, 0);
    const added = gnt("gnt-instance", "modify", "--disk", "add:size=32M", INST);
    t.equal(added.code, 0, added.out);
    disks++;
    t.same(await enforced(index), { bps_wr: MIB }, `the hot-added disk ${index} at 1 MiB/s of writes at once`);
    markIoTest(realpathSync(link(index)), "G1");
    const [, fresh] = await measure(["G0", "G1"]);
    near(fresh?.wr ?? 0, `the guest's writes on disk ${index}`);
    t.ok((fresh?.rd ?? 0) > 2 * MIB, `its reads are not limited: ${mibps(fresh?.rd ?? 0)}`);

    // Back as it was for the tests after this one: no tags, no limits, no measuring.
    markIoTest(realpathSync(link(0)), undefined);
    markIoTest(realpathSync(link(index)), undefined);
    t.equal(gnt("gnt-instance", "remove-tags", INST, "disk-qos:disk0:bps:1M", `disk-qos:disk${index}:bps-wr:1M`).code, 0);
    t.match(pluginCommand(HERE, "qos", INST), /set disk0 .*: none, was bps 1M/);
  },
);

t.test(
  "use_chroot, security_model=user, acpi=false and soundhw: what this QEMU removed is bridged by the launcher",
  async (t) => {
    const OLD = "gqb1old.ganeti.test";
    const stockQemu = "/usr/bin/kvm.distrib";
    const help = execFileSync(stockQemu, ["-help"], { encoding: "utf8" });
    const removed = ["chroot", "runas", "no-acpi", "soundhw"].filter((o) => !new RegExp(`^-${o}\\b`, "m").test(help));
    t.comment(
      `this QEMU ${removed.length ? `has no ${removed.map((o) => `-${o}`).join(", ")}` : "still has -chroot, -runas, -no-acpi and -soundhw"}`,
    );
    const settings = "use_chroot=true,security_model=user,security_domain=nobody,acpi=false,soundhw=ac97";
    addTestInstance(HERE, OLD, { template: "file", pnode: NODE, memory: "128M", hv: `kvm_path=${stockQemu},${settings}` });
    const oldCons = new Console(OLD);
    t.teardown(() => {
      oldCons.close();
      gnt("gnt-instance", "remove", "-f", "--shutdown-timeout=0", OLD);
    });
    // Stock Ganeti 3.0.2 with QEMU itself as kvm_path.
    const stock = gnt("gnt-instance", "start", OLD);
    if (removed.length === 0) {
      t.equal(stock.code, 0, `stock 3.0.2 starts it on a QEMU with all four: ${lastLine(stock)}`);
      t.equal(gnt("gnt-instance", "shutdown", "--timeout=0", OLD).code, 0);
    } else {
      t.not(stock.code, 0, "stock 3.0.2 cannot start it on this QEMU");
      t.match(stock.out, new RegExp(`-(${removed.join("|")})`), `in QEMU's words: ${lastLine(stock)}`);
    }
    // The same instance with the launcher (/usr/bin/kvm, diverted to it) as kvm_path.
    t.equal(gnt("gnt-instance", "modify", "-H", "kvm_path=/usr/bin/kvm", OLD).code, 0);
    const r = gnt("gnt-instance", "start", OLD);
    t.equal(r.code, 0, `through the launcher it starts: ${lastLine(r)}`);
    await oldCons.boot(HERE);
    const pid = qemuPid(HERE, OLD) as number;
    t.match(readlinkSync(`/proc/${pid}/root`), /kvm-hypervisor\/chroot\//, "QEMU runs chrooted where Ganeti said");
    t.match(readFileSync(`/proc/${pid}/status`, "utf8"), /^Uid:\s+\d+\s+65534\b/m, "as nobody");
    const acpi = await withQmp(HERE, OLD, (q) => q.execute<string>("qom-get", { path: "/machine", property: "acpi" }));
    t.equal(acpi, "off", "with ACPI off");
    const pci = await withQmp(HERE, OLD, (q) => q.execute<string>("human-monitor-command", { "command-line": "info pci" }));
    t.match(pci, /Audio controller: PCI device 8086:2415/, "and its AC97 sound card");
  },
);

t.test("the package upgraded while the instance runs: the same QEMU, still enabled, and the new hooks hot-add", async (t) => {
  const pid = qemuPid(HERE, INST);
  t.ok(pid, "the instance runs");
  const version = upgradePackage(HERE);
  t.equal(installedVersion(HERE), version, `${version} is installed`);
  t.equal(qemuPid(HERE, INST), pid, "the same QEMU process runs on");
  for (const { hook, link } of HOOK_LINKS)
    t.equal(readlinkSync(join(HERE.hooks, link)), INSTALLED.hook(hook), `${link} still linked`);
  t.equal(readlinkSync("/usr/bin/kvm"), INSTALLED.launcher, "/usr/bin/kvm is still the launcher");
  const from = cons.text.length;
  const r = gnt("gnt-instance", "modify", "--disk", "add:size=32M", INST);
  t.equal(r.code, 0, r.out);
  await cons.waitFor(/GUEST: add (vd[a-z])/, from);
  const s = await allBlockdev(t, "after the upgrade's hot-add");
  t.equal(s.disks.length, runtimeDisks(), "QEMU and the runtime file agree on the disks");
});

t.test(
  "gnt-cluster verify: fails on a node with the plugin disabled, with the line that says so; passes once enabled",
  async (t) => {
    const enabled = gnt("gnt-cluster", "verify");
    t.equal(verifyReport(enabled.out), "", `enabled: the plugin's hook has nothing to report: ${enabled.out}`);
    // disable keeps the cluster-verify hook, which then reports the node.
    pluginCommand(HERE, "disable");
    const disabled = gnt("gnt-cluster", "verify");
    t.not(disabled.code, 0, "disabled: verify fails");
    t.ok(verifyHookFailed(disabled.out), "disabled: Ganeti counts the plugin's hook as failed");
    t.match(
      verifyReport(disabled.out),
      `ganeti-qemu-blockdev: ${NODE}: the plugin is disabled: hooks not linked in ${HERE.hooks}`,
      "one line naming the node and why",
    );
    pluginCommand(HERE, "enable");
    const again = gnt("gnt-cluster", "verify");
    t.equal(verifyReport(again.out), "", "enabled again: nothing to report");
    t.equal(again.code, enabled.code, "and verify ends as it did before");
  },
);
