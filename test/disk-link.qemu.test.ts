// disk-add takes the disk's path from what Ganeti says of the disk, never from the
// `<inst>:<n>` link alone: Ganeti 3.0 makes that link only when it hot-plugs the disk itself, and
// leaves the links of removed disks behind (ganeti-lab README, "Host block devices").
import { execFileSync } from "node:child_process";
import { readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { type EnvVars, loadEnv, runHook } from "./helpers/hook.js";
import { namedNodes } from "./helpers/inspect.js";
import { INSTANCE, type Instance, startInstance } from "./helpers/instance.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const NEW_UUID = ADD_ENV["GANETI_POST_INSTANCE_DISK2_UUID"] as string;
const NEW_ID = diskDeviceId(NEW_UUID);

const link2 = (inst: Instance) => join(inst.diskDir, `${INSTANCE}:2`);
/** The file QEMU's protocol node for the new disk opened. */
const opened = async (inst: Instance) => (await namedNodes(inst.vm.qmp)).find((n) => n["node-name"] === `${NEW_ID}-file`)?.file;

async function refusedUntouched(t: Test, inst: Instance, env: EnvVars, code: string) {
  const runtimeBefore = readFileSync(inst.runtimePath, "utf8");
  const add = await runHook("disk-add", env, { args: inst.pathArgs });
  t.equal(add.code, 1, "disk-add fails");
  t.same(add.json?.change, ["disk/2", "hotplug:failed"], "Ganeti's change tuple says failed");
  t.equal(add.json?.error.code, code, add.stderr);
  t.same(await inst.snapshot(), inst.baseline, "nothing was attached");
  t.equal(readFileSync(inst.runtimePath, "utf8"), runtimeBefore, "runtime file unchanged");
  return add;
}

t.test("an add without --hotplug (no link): the environment's path is attached and the link created", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const img = inst.addImage(2, 1 << 20, { link: false });
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, add.stderr);
  t.same(add.json.change, ["disk/2", "hotplug:done"]);
  t.equal(await opened(inst), img, "QEMU opened the image itself, not the link");
  t.equal(readlinkSync(link2(inst)), img, "the link Ganeti's later operations use now exists");
  t.equal(inst.runtime()[3].at(-1)?.[1], link2(inst), "the runtime entry keeps Ganeti's link, as Ganeti writes it");
});

t.test("a link naming a foreign image is refused; nothing is attached", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  inst.addImage(2, 1 << 20, { link: false });
  const foreign = join(inst.base, "another-instances-disk.raw");
  writeFileSync(foreign, Buffer.alloc(1 << 20));
  symlinkSync(foreign, link2(inst));
  const add = await refusedUntouched(t, inst, inst.env(ADD_ENV), "DISK_LINK_MISMATCH");
  t.match(add.stderr, new RegExp(`points at ${foreign}.*Ganeti says the disk is .*image2\\.raw`), "names both paths");
  t.equal(
    add.stderr
      .trim()
      .split("\n")
      .filter((l) => l.includes("error")).length,
    1,
    "in one error line",
  );
  t.equal(readlinkSync(link2(inst)), foreign, "the link is left for the operator to judge");
});

t.test("after a removal shifted the indexes, links and runtime entries follow Ganeti's current ones", async (t) => {
  // disk/1 was removed: the disk that was disk/2 is disk/1 now, its image still behind <inst>:2,
  // which is where the runtime file points too, while <inst>:1 dangles. A new disk/2 is added.
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const moved = join(inst.diskDir, "image1.raw"); // what the runtime file's disk 1 uses
  const img = inst.addImage(2, 1 << 20, { link: false });
  execFileSync("rm", [join(inst.diskDir, `${INSTANCE}:1`)]);
  symlinkSync(join(inst.diskDir, "removed-long-ago.raw"), join(inst.diskDir, `${INSTANCE}:1`));
  symlinkSync(moved, link2(inst));
  const doc = inst.runtime();
  const oldLink = doc[3][1]?.[1];
  (doc[3][1] as [unknown, string, unknown])[1] = link2(inst);
  writeFileSync(inst.runtimePath, JSON.stringify(doc));
  const env = inst.env(ADD_ENV);
  env["GANETI_INSTANCE_DISK1_ID"] = moved;
  env["GANETI_POST_INSTANCE_DISK1_ID"] = moved;
  const add = await runHook("disk-add", env, { args: inst.pathArgs });
  t.equal(add.code, 0, add.stderr);
  t.equal(await opened(inst), img, "the new disk is its own image");
  t.equal(readlinkSync(link2(inst)), img, "<inst>:2 names the new disk/2");
  t.equal(readlinkSync(join(inst.diskDir, `${INSTANCE}:1`)), moved, "<inst>:1 names disk/1 again");
  t.match(add.stderr, /pointed .*:2 at .*image2\.raw; it named .*image1\.raw, another disk of this instance/);
  t.equal(inst.runtime()[3][1]?.[1], oldLink, "disk/1's runtime entry uses <inst>:1, for soft reboots and migrations");
  t.equal(inst.runtime()[3][2]?.[1], link2(inst), "and the new entry <inst>:2");
});

t.test("a dangling link left by a removed disk is replaced, with a warning", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const img = inst.addImage(2, 1 << 20, { link: false });
  symlinkSync(join(inst.diskDir, "deleted-long-ago.raw"), link2(inst));
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, add.stderr);
  t.match(add.stderr, /replaced the dangling link/);
  t.equal(readlinkSync(link2(inst)), img, "the link now names the disk");
  t.equal(await opened(inst), img);
});

t.test("a path that does not exist, or none at all: refused before QEMU", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const gone = await refusedUntouched(
    t,
    inst,
    { ...ADD_ENV, GANETI_POST_INSTANCE_DISK2_ID: join(inst.base, "no-such.raw") },
    "DISK_PATH_MISSING",
  );
  t.match(gone.stderr, /no-such\.raw \(as Ganeti gives it\) does not exist/);

  const noPath: EnvVars = { ...ADD_ENV };
  delete noPath["GANETI_POST_INSTANCE_DISK2_ID"];
  const env = await runHook("disk-add", noPath, { args: inst.pathArgs });
  t.equal(env.code, 2, "exit 2: invalid input");
  t.match(env.stderr, /GANETI_POST_INSTANCE_DISK2_ID: required for dev_type file/);

  const json = await runHook("disk-add", ADD_ENV, {
    args: inst.pathArgs,
    stdin: JSON.stringify({ disk: { uuid: "0badc0de-0000-4000-8000-000000000000", dev_type: "plain", mode: "rw" }, index: 2 }),
  });
  t.equal(json.code, 2, "JSON without logical_id or link: exit 2");
  t.match(json.stderr, /\$\.disk\.logical_id: required for dev_type plain/);
  t.same(await inst.snapshot(), inst.baseline, "nothing was attached");
});

/** A loop device over a fresh image of this test, detached by its own name in teardown. */
function loopDevice(t: Test, inst: Instance, name: string, marker: string): string {
  const img = join(inst.base, name);
  writeFileSync(img, Buffer.alloc(1 << 20));
  writeFileSync(img, marker, { flag: "r+" });
  const dev = execFileSync("losetup", ["--find", "--show", img], { encoding: "utf8" }).trim();
  t.teardown(() => execFileSync("losetup", ["-d", dev]));
  return dev;
}

const canLoop = (() => {
  try {
    execFileSync("losetup", ["--find"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

t.test(
  "host block devices: a link to another device is refused, the right one attached",
  { skip: !canLoop && "no loop devices here" },
  async (t) => {
    // The dangerous case: no image lock protects a block device that nothing else holds.
    const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
    const other = loopDevice(t, inst, "other.img", "OTHER");
    const mine = loopDevice(t, inst, "mine.img", "MINE");
    const env: EnvVars = {
      ...ADD_ENV,
      GANETI_POST_INSTANCE_DISK2_DEV_TYPE: "blockdev",
      GANETI_POST_INSTANCE_DISK2_DRIVER: "manual",
      GANETI_POST_INSTANCE_DISK2_ID: mine,
    };
    symlinkSync(other, link2(inst));
    const add = await refusedUntouched(t, inst, env, "DISK_LINK_MISMATCH");
    t.match(add.stderr, new RegExp(`points at ${other}`));

    execFileSync("rm", [link2(inst)]);
    symlinkSync(mine, link2(inst));
    const ok = await runHook("disk-add", env, { args: inst.pathArgs });
    t.equal(ok.code, 0, ok.stderr);
    const node = (await namedNodes(inst.vm.qmp)).find((n) => n["node-name"] === `${NEW_ID}-file`);
    t.equal(node?.drv, "host_device", "a host_device node");
    t.equal(node?.file, mine, "on the device Ganeti named");
  },
);
