// Per-disk I/O limits as a real Linux guest measures them. QEMU's block layer throttles in
// wall-clock time, also under TCG: the test guest writes, then reads, 3 MiB with direct I/O on every
// disk whose first sector is marked IOTEST:<KiB>:<name>, all such disks at once, and reports each
// disk's rates per pass. A pass that began before a change may straddle it, so each check takes
// the second pass that began after it. query-block is asked each time as well.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { guestFiles, guestKernel, ioPass, markIoTest, mibps, nearCap, waitConsole } from "../lab/guest.js";
import { QmpClient } from "../src/qmp/client.js";
import { type EnvVars, loadEnv, runHook } from "./helpers/hook.js";
import { startInstance } from "./helpers/instance.js";
import {
  daemon,
  images,
  LAUNCHER,
  launcherEnv,
  linkDisks,
  type Node,
  node,
  onNode,
  recordedArgv,
  run,
} from "./helpers/launcher.js";
import { freePort } from "./helpers/qemu.js";
import { DISK0, DISK1, migrateTo, PLUGIN_COMMAND, recordTags, type Throttle, throttleOf } from "./helpers/qos.js";
import { tempDir } from "./helpers/tmp.js";

const ADD = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const APPEND = "console=ttyS0 panic=-1 quiet gqb.io"; // gqb.io: the guest measures its marked disks
const MIB = 1 << 20;
t.comment(`guest kernel: ${guestKernel()}`);

/** Each disk's rates in the second pass the guest began after `from` on its console file. */
const passAfter = (console: string, names: string[], from: number) =>
  ioPass((re, at) => waitConsole(console, re, 60_000, at), names, from);

function near(t: Test, rate: number, cap: number, what: string): void {
  t.ok(nearCap(rate, cap), `${what}: ${mibps(rate)}, cap ${mibps(cap)}`);
}

const consoleLength = (file: string) => (existsSync(file) ? readFileSync(file, "latin1").length : 0);

/** QEMU's limits on a device, on a connection of its own (QEMU serves one client on the instance's socket). */
async function enforced(qmpSocket: string, id: string): Promise<Throttle> {
  const q = await QmpClient.connect(qmpSocket, { timeoutMs: 5000 });
  try {
    return await throttleOf(q, id);
  } finally {
    q.close();
  }
}

const NONE = { bps: 0, bps_max: undefined, bps_wr: 0, iops: 0, iops_wr: 0, group: undefined };

/** Ganeti's recorded start argv with the test guest booting, 256 MiB, and its console in a file. */
function guestArgv(n: Node, files: ReturnType<typeof images>, consoleFile: string): string[] {
  const guest = guestFiles();
  const argv = recordedArgv("instance-start", n, files);
  argv[argv.indexOf("-m") + 1] = "256";
  argv[argv.indexOf("-serial") + 1] = `file:${consoleFile}`;
  return [...argv, "-kernel", guest.kernel, "-initrd", guest.initrd, "-append", APPEND];
}

t.test("launcher start, a live change to one group, and a live migration: the guest measures each", async (t) => {
  const dir = tempDir(t);
  const files = images(dir, 2);
  for (const [i, img] of files.disks.entries()) markIoTest(img, `D${i}`);
  const n1 = node(join(dir, "node1"));
  const n2 = node(join(dir, "node2"));
  linkDisks(n1, files.disks);
  linkDisks(n2, files.disks);
  const env = launcherEnv(dir);
  const console1 = join(dir, "console1.log");
  const argv = guestArgv(n1, files, console1);

  // disk 0: 1 MiB/s in all; disk 1: 16 write requests a second (64 KiB each: 1 MiB/s), reads free.
  t.equal((await recordTags(n1, "disk-qos:disk0:bps:1M disk-qos:disk1:iops-wr:16")).code, 0);
  const r = await run(LAUNCHER, argv, env);
  t.equal(r.code, 0, r.stderr.toString());
  const vm = await daemon(t, n1);
  await vm.qmp.execute("cont"); // as Ganeti does once kvm_path returned
  vm.qmp.close();
  t.same(await enforced(n1.qmp, DISK0), { ...NONE, bps: MIB, group: DISK0 }, "query-block: disk 0 at 1 MiB/s");
  t.same(await enforced(n1.qmp, DISK1), { ...NONE, iops_wr: 16, group: DISK1 }, "query-block: disk 1 at 16 write iops");
  const boot = await waitConsole(console1, /GUEST: BOOT-OK/, 90_000);
  const [d0, d1] = await passAfter(console1, ["D0", "D1"], boot.end);
  near(t, d0?.wr ?? 0, MIB, "disk 0 writes");
  near(t, d0?.rd ?? 0, MIB, "disk 0 reads");
  near(t, d1?.wr ?? 0, MIB, "disk 1 writes (16 iops × 64 KiB)");
  t.ok((d1?.rd ?? 0) > 2 * MIB, `disk 1 reads are not limited: ${mibps(d1?.rd ?? 0)}`);

  // A live change: both disks share one group of 1 MiB/s.
  const changed = await run(
    PLUGIN_COMMAND,
    ["qos", "inst1.ganeti.test", "--qmp-dir", join(n1.dir, "ctrl"), "--tags", "disk-qos:all:bps:1M"],
    env,
  );
  t.equal(changed.code, 0, changed.stderr.toString());
  t.match(changed.stdout.toString(), /set disk0 .*bps 1M \(group disk-qos-all\), was bps 1M/);
  const at = consoleLength(console1);
  for (const id of [DISK0, DISK1]) t.same(await enforced(n1.qmp, id), { ...NONE, bps: MIB, group: "disk-qos-all" });
  const [g0, g1] = await passAfter(console1, ["D0", "D1"], at);
  near(t, (g0?.wr ?? 0) + (g1?.wr ?? 0), MIB, "the group's writes, both disks at once");
  near(t, (g0?.rd ?? 0) + (g1?.rd ?? 0), MIB, "the group's reads, both disks at once");

  // A live migration: the target's launcher sets the recorded limits before the migration starts.
  t.equal((await recordTags(n2, "disk-qos:all:bps:1M")).code, 0, "the migrate pre hook on the target");
  const console2 = join(dir, "console2.log");
  const port = await freePort();
  const target = [
    ...onNode(argv, n1, n2)
      .filter((a) => a !== "-S")
      .map((a) => (a === `file:${console1}` ? `file:${console2}` : a)),
    "-incoming",
    `tcp:127.0.0.1:${port}`,
  ];
  const r2 = await run(LAUNCHER, target, env);
  t.equal(r2.code, 0, r2.stderr.toString());
  const vm2 = await daemon(t, n2);
  const source = await QmpClient.connect(n1.qmp, { timeoutMs: 5000 });
  t.teardown(() => source.close());
  t.equal(await migrateTo(source, port), "completed", "migrated");
  source.close();
  await vm.kill();
  vm2.qmp.close();
  for (const id of [DISK0, DISK1]) t.same(await enforced(n2.qmp, id), { ...NONE, bps: MIB, group: "disk-qos-all" });
  const [m0, m1] = await passAfter(console2, ["D0", "D1"], 0);
  near(t, (m0?.wr ?? 0) + (m1?.wr ?? 0), MIB, "on the target: the group's writes");
});

t.test("a hot-added disk gets its limits at once", async (t) => {
  const inst = await startInstance(
    t,
    { disk_type: "paravirtual" },
    { running: true, memory: 256, kernel: { ...guestFiles(), append: APPEND, console: "" } },
  );
  const boot = await waitConsole(inst.consoleLog, /GUEST: BOOT-OK/, 90_000);
  const image = inst.addImage(2);
  markIoTest(image, "D2");
  const env: EnvVars = {
    ...inst.env(ADD),
    GANETI_INSTANCE_TAGS: "disk-qos:disk2:bps-wr:1M",
    GANETI_POST_INSTANCE_TAGS: "disk-qos:disk2:bps-wr:1M",
  };
  const res = await runHook("disk-add", env, { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  const id = (res.json?.disk?.[0]?.hvinfo?.id as string | undefined) ?? "";
  t.same(await throttleOf(inst.vm.qmp, id), { ...NONE, bps_wr: MIB, group: id }, "query-block: 1 MiB/s of writes");
  const [rates] = await passAfter(inst.consoleLog, ["D2"], boot.end);
  near(t, rates?.wr ?? 0, MIB, "the new disk's writes");
  t.ok((rates?.rd ?? 0) > 2 * MIB, `its reads are not limited: ${mibps(rates?.rd ?? 0)}`);
});
