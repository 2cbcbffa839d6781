// npm run test:ganeti, a rolling upgrade of QEMU under a real Ganeti 3.0.2: two nodes, node 1 on
// this machine's QEMU (Debian 12's 7.2), node 2 on bookworm-backports' (10.0, bound over the same
// paths in its namespace: test/debian12/qemu-backports.sh, two-nodes.sh GQB_NODE2_QEMU). The plugin
// is installed and enabled on both the README way. An instance live-migrates from the older QEMU to
// the newer, keeps its devices and its machine type, and takes a hot-add there; one whose machine
// type the newer QEMU dropped is refused by the target's launcher in one line, and keeps running
// where it was.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import t, { type Test } from "tap";
import { guestKernel } from "../../lab/guest.js";
import { DEFAULT_LOG_PATH } from "../../src/host/plugin-files.js";
import { ACCELERATOR } from "../helpers/accel.js";
import { REAL_QEMU } from "../helpers/launcher.js";
import {
  addTestInstance,
  allBlockdev,
  Console,
  gnt,
  lastLine,
  layout,
  Migrations,
  type NamedNode,
  qemuPid,
  verifyHookFailed,
  verifyReport,
  withQmp,
} from "./harness.js";
import { KVM, master, N1, N2, twoNodeSuite } from "./two-node-suite.js";

t.comment(`guest kernel: ${guestKernel()}; ${ACCELERATOR}`);

const MOVES = "gqb-moves.ganeti.test";
const AGED = "gqb-aged.ganeti.test";
const consoles = new Map([MOVES, AGED].map((i) => [i, new Console(i)]));
const consoleOf = (inst: string) => consoles.get(inst) as Console;
const checks = new Migrations(N1, [N1, N2], consoleOf);

/** What a node's QEMU says of itself and its machine types, asked on that node. */
function nodeQemu(n: NamedNode): { version: string; types: string[] } {
  const version = gnt(n, REAL_QEMU, "--version").out.split("\n")[0] ?? "";
  const help = gnt(n, REAL_QEMU, "-machine", "help").out;
  return { version, types: [...help.matchAll(/^(pc-i440fx-\d+\.\d+)\s/gm)].map((m) => m[1] as string) };
}

async function boot(t: Test, on: NamedNode, inst: string) {
  const r = master("gnt-instance", "start", inst);
  t.equal(r.code, 0, `gnt-instance start ${inst}: ${lastLine(r)}`);
  if (r.code !== 0) {
    // What QEMU and the launcher said, where Ganeti's message has nothing.
    const tail = (f: string) => (existsSync(f) ? readFileSync(f, "utf8").trim().split("\n").slice(-5).join("\n") : "(none)");
    t.comment(
      `QEMU's log: ${tail(join(on.log, "kvm", `${inst}.log`))}\nthe plugin's log: ${tail(join(on.log, basename(DEFAULT_LOG_PATH)))}`,
    );
  }
  await consoleOf(inst).boot(on);
}

const machineType = (n: NamedNode, inst: string) =>
  withQmp(n, inst, (q) => q.execute<string>("qom-get", { path: "/machine", property: "type" }));

twoNodeSuite(t, {
  env: { GQB_NODE2_QEMU: "backports" },
  enable: true,
  close: () => {
    for (const c of consoles.values()) c.close();
  },
});

const older = () => nodeQemu(N1);
const newer = () => nodeQemu(N2);

t.test("the two nodes run two QEMUs", async (t) => {
  const [a, b] = [older(), newer()];
  t.comment(`node 1: ${a.version}; node 2: ${b.version}`);
  t.not(a.version, b.version, "node 2's QEMU is another release than node 1's");
});

t.test("an instance migrates from the older QEMU to the newer: same devices, same machine type, a hot-add there", async (t) => {
  addTestInstance(N1, MOVES, {
    template: "sharedfile",
    pnode: N1.name,
    memory: "128M",
    hv: "disk_type=scsi-hd,scsi_controller_type=virtio-scsi-pci",
  });
  await boot(t, N1, MOVES);
  const type = await machineType(N1, MOVES);
  const before = await allBlockdev(t, N1, MOVES, "on node 1");
  const ids = (await layout(N1, MOVES)).ids;
  const there = await checks.migrate(t, MOVES, N1, N2);
  t.same(there.ids, ids, "the same device ids on node 2");
  t.same((await allBlockdev(t, N2, MOVES, "on node 2")).disks, before.disks, "the same -blockdev nodes");
  t.equal(await machineType(N2, MOVES), type, `the same machine type (${type}) on the newer QEMU`);
  await checks.hotAdd(t, MOVES);
  t.equal((await allBlockdev(t, N2, MOVES, "after the hot-add on node 2")).disks.length, 3, "three -blockdev disks");
});

t.test("a machine type the newer QEMU dropped: the migration refused in one line, the instance runs on", async (t) => {
  const dropped = older().types.filter((x) => !newer().types.includes(x));
  if (dropped.length === 0) {
    t.comment("node 2's QEMU has every pc-i440fx type node 1's has: nothing it could refuse");
    return;
  }
  // The newest of them: the oldest boards carry compat settings of their own that are not the point.
  const version = (x: string) => x.replace("pc-i440fx-", "").split(".").map(Number) as [number, number];
  const type = dropped.sort((x, y) => version(x)[0] - version(y)[0] || version(x)[1] - version(y)[1]).at(-1) as string;
  // No guest: QEMU's loader boots the test guest's initrd on no board that old ("linux kernel too
  // old to load a ram disk"); the firmware, finding nothing to boot, waits as well.
  addTestInstance(N1, AGED, {
    template: "sharedfile",
    pnode: N1.name,
    memory: "128M",
    hv: `machine_version=${type}`,
    guest: "none",
  });
  const started = master("gnt-instance", "start", AGED);
  t.equal(started.code, 0, `gnt-instance start ${AGED} (${type}) on node 1: ${lastLine(started)}`);
  const pid = qemuPid(N1, AGED);
  t.ok(pid, "its QEMU runs on node 1");
  // gnt-cluster verify sees it coming: the master names the instance, the type and the node.
  const verify = master("gnt-cluster", "verify");
  t.match(
    verifyReport(verify.out),
    `instance ${AGED} runs machine type ${type} on ${N1.name}, which ${N2.name}'s QEMU ${newer().version.split(" ")[3]} lacks: it can neither migrate nor fail over there`,
    "gnt-cluster verify names it first, on the master",
  );
  t.ok(verifyHookFailed(verify.out), "and fails");
  const r = master("gnt-instance", "migrate", "-f", "-n", N2.name, AGED);
  t.not(r.code, 0, "Ganeti's migration fails");
  t.match(
    r.out.replace(/\s+/g, " "),
    `[MACHINE_TYPE_MISSING]: instance ${AGED}: this node's QEMU (${KVM}.distrib) has no machine type ${type}, so the instance can neither start nor migrate here`,
    "with the target launcher's line: the instance, the machine type, what to set",
  );
  t.equal(qemuPid(N1, AGED), pid, "the instance runs on where it was, the same QEMU");
  t.equal(qemuPid(N2, AGED), undefined, "nothing was left on node 2");
});
