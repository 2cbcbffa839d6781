// disk-grow, from the disk-grow hook environment recorded on a real Ganeti 3.0.2 cluster
// (gnt-instance grow-disk inst1 1 64M on a running instance): QEMU is told the size the backing
// store has now, by node name or by legacy device, never shrinking.
import { execFileSync } from "node:child_process";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import type { QmpClient } from "../src/qmp/client.js";
import { type EnvVars, loadEnv, runHook } from "./helpers/hook.js";
import { blockOf } from "./helpers/inspect.js";
import { type Instance, startInstance } from "./helpers/instance.js";

const GROW_ENV = loadEnv("ganeti-3.0.2/disk-grow-online-post.env");
const DISK1 = diskDeviceId(GROW_ENV["GANETI_POST_INSTANCE_DISK1_UUID"] as string);
const MIB = 1 << 20;

const sizeOf = async (q: QmpClient, id: string) =>
  ((await blockOf(q, id))?.inserted as { image?: { "virtual-size": number } } | undefined)?.image?.["virtual-size"];
const runtimeSize = (inst: Instance) => inst.runtime()[3][1]?.[0].size;

async function grown(t: Test, inst: Instance, env: EnvVars, id: string, bytes: number) {
  const res = await runHook("disk-grow", env, { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  t.same(res.json?.change, ["disk/1", "grow:done"], "one line, in the hot-plug hooks' style");
  t.equal(await sizeOf(inst.vm.qmp, id), bytes, `QEMU gives the guest ${bytes / MIB} MiB`);
  return res;
}

const LAYOUTS: Record<string, string>[] = [
  { disk_type: "paravirtual" },
  { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" },
];
for (const hv of LAYOUTS) {
  t.test(`${hv["disk_type"]}: grown to what the image has, once; never shrunk`, async (t) => {
    const inst = await startInstance(t, hv);
    const env = inst.env(GROW_ENV);
    const img = join(inst.diskDir, "image1.raw");
    t.equal(await sizeOf(inst.vm.qmp, DISK1), 8 * MIB, "8 MiB at start");
    truncateSync(img, 24 * MIB); // what Ganeti's grow-disk did to the file
    await grown(t, inst, env, DISK1, 24 * MIB);
    t.equal(runtimeSize(inst), 24, "the runtime entry's size, in MiB as Ganeti keeps it");
    const again = await grown(t, inst, env, DISK1, 24 * MIB);
    t.match(again.stderr, /already has 25165824 bytes/, "a second run has nothing to tell QEMU, and says so");
    truncateSync(img, 4 * MIB);
    const shrink = await runHook("disk-grow", env, { args: inst.pathArgs });
    t.equal(shrink.code, 1, "a smaller backing store: refused");
    t.equal(shrink.json?.error?.code, "WOULD_SHRINK");
    t.match(shrink.json?.error?.message, /4194304 bytes, fewer than the 25165824/, "naming both sizes");
    t.equal(await sizeOf(inst.vm.qmp, DISK1), 24 * MIB, "QEMU keeps the size");
  });
}

t.test("a legacy -drive disk (Ganeti 3.0's own hot-add) is grown by device", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  const img = inst.addImage(2);
  const uuid = "f0647398-5c2c-4b5c-903a-76aaad150ecc";
  const id = diskDeviceId(uuid);
  await inst.vm.qmp.execute("human-monitor-command", { "command-line": `drive_add 0 file=${img},format=raw,if=none,id=${id}` });
  await inst.vm.qmp.execute("device_add", { driver: "virtio-blk-pci", id, drive: id, bus: "pci.0", addr: "0xe" });
  const env: EnvVars = inst.env({
    ...GROW_ENV,
    GANETI_DISK: "2",
    GANETI_POST_INSTANCE_DISK_COUNT: "3",
    GANETI_POST_INSTANCE_DISK2_UUID: uuid,
    GANETI_POST_INSTANCE_DISK2_DEV_TYPE: "file",
    GANETI_POST_INSTANCE_DISK2_DRIVER: "loop",
    GANETI_POST_INSTANCE_DISK2_ID: img,
  });
  truncateSync(img, 12 * MIB);
  const res = await runHook("disk-grow", env, { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  t.equal(await sizeOf(inst.vm.qmp, id), 12 * MIB, "block_resize by device");
});

t.test("a host block device: its size from sysfs", { skip: !canLoop() && "no loop devices here" }, async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const backing = join(inst.base, "lv.img");
  writeFileSync(backing, Buffer.alloc(8 * MIB));
  const dev = execFileSync("losetup", ["--find", "--show", backing], { encoding: "utf8" }).trim();
  t.teardown(() => execFileSync("losetup", ["-d", dev]));
  // Ganeti names a block device for disk 1 (QEMU still has the image it started with, grown to the
  // same size): what QEMU is told can only have come from the device's size in sysfs.
  truncateSync(backing, 20 * MIB);
  execFileSync("losetup", ["-c", dev]);
  truncateSync(join(inst.diskDir, "image1.raw"), 20 * MIB);
  const env = {
    ...inst.env(GROW_ENV),
    GANETI_POST_INSTANCE_DISK1_DEV_TYPE: "blockdev",
    GANETI_POST_INSTANCE_DISK1_DRIVER: "manual",
    GANETI_POST_INSTANCE_DISK1_ID: dev,
  };
  await grown(t, inst, env, DISK1, 20 * MIB);
});

t.test("bad input: exit 2, one line, nothing sent", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  for (const [value, re] of [
    ["5", /GANETI_DISK: disk 5 is not in the environment \(GANETI_POST_INSTANCE_DISK_COUNT=2\)/],
    ["x", /GANETI_DISK: must be a disk index from 0 to 15/],
  ] as const) {
    const res = await runHook("disk-grow", { ...inst.env(GROW_ENV), GANETI_DISK: value }, { args: inst.pathArgs });
    t.equal(res.code, 2, `GANETI_DISK=${value}: exit 2`);
    t.match(res.stderr, re);
    t.equal(res.stdout, "", "nothing on stdout");
  }
  t.equal(await sizeOf(inst.vm.qmp, DISK1), 8 * MIB, "the VM is as it was");
  const pre = await runHook("disk-grow", loadEnv("ganeti-3.0.2/disk-grow-online-pre.env"), { args: inst.pathArgs });
  t.equal(pre.code, 0, "the pre phase: nothing to do");
  t.match(pre.stderr, /post phase/);
});

function canLoop(): boolean {
  try {
    execFileSync("losetup", ["--find"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
