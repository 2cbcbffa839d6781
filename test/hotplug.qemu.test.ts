// disk-add and disk-remove against a real QEMU 7.2 without a guest, driven by the hook
// environments recorded on a real Ganeti cluster (instance-modify post phase).
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { loadEnv, runHook } from "./helpers/hook.js";
import { blockOf, namedNodes, qemuIo, qomGet } from "./helpers/inspect.js";
import { INSTANCE, type Instance, startInstance } from "./helpers/instance.js";
import { eventLoopUsesIoUring, openFiles, resetCompletingUnplug } from "./helpers/qemu.js";
import { proxyFor } from "./helpers/qmp-proxy.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
const NEW_UUID = "f0647398-5c2c-4b5c-903a-76aaad150ecc";
const NEW_ID = diskDeviceId(NEW_UUID);

async function nothingLeft(t: Test, inst: Instance) {
  t.same(await inst.snapshot(), inst.baseline, "block nodes and devices are as they were at start");
}

/** An instance whose disk 2 Ganeti 3.0 attached: a -drive backend whose id is the device id. */
async function legacyDisk(t: Test): Promise<Instance> {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  const img = inst.addImage(2);
  await inst.vm.qmp.execute("human-monitor-command", {
    "command-line": `drive_add 0 file=${img},format=raw,if=none,id=${NEW_ID}`,
  });
  await inst.vm.qmp.execute("device_add", { driver: "virtio-blk-pci", id: NEW_ID, drive: NEW_ID, bus: "pci.0", addr: "0xe" });
  return inst;
}

for (const controller of ["virtio-scsi-pci", "lsi"]) {
  t.test(`scsi-hd on ${controller}: add and remove with no guest, from the recorded environments`, async (t) => {
    const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: controller });
    inst.addImage(2);
    const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
    t.equal(add.code, 0, `disk-add exits 0: ${add.stderr}`);
    t.same(add.json.change, ["disk/2", "hotplug:done"], "Ganeti's change tuple");
    t.match(add.json.disk[0].hvinfo, { driver: "scsi-hd", id: NEW_ID, bus: "scsi.0", "scsi-id": 2, lun: 0 }, "next free scsi-id");
    t.equal(await qomGet(inst.vm.qmp, NEW_ID, "type"), "scsi-hd", "QEMU has the device");
    t.equal(await qomGet(inst.vm.qmp, NEW_ID, "scsi-id"), 2, "at scsi-id 2");
    t.equal((await blockOf(inst.vm.qmp, NEW_ID))?.inserted?.["node-name"], NEW_ID, "backed by our node");
    t.same(
      inst
        .runtime()[3]
        .map((e) => e[0].uuid)
        .at(-1),
      NEW_UUID,
      "runtime file lists the new disk",
    );
    await qemuIo(inst.vm.qmp, NEW_ID, "write -P 0x11 0 64k");

    const again = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
    t.equal(again.code, 0, "a repeated add is done, not a duplicate");
    t.match(again.stderr, /already attached/, "and says so");
    t.equal(inst.runtime()[3].length, 3, "the runtime still lists three disks");

    const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
    t.equal(rm.code, 0, `disk-remove exits 0: ${rm.stderr}`);
    t.same(rm.json.change, ["disk/2", "hotplug:done"]);
    t.equal(inst.runtime()[3].length, 2, "runtime file is back to two disks");
    await nothingLeft(t, inst);
  });
}

t.test("virtio-blk with no guest: the unplug times out, the disk stays usable, a later call finishes", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  const img = inst.addImage(2);
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, `disk-add exits 0: ${add.stderr}`);
  t.match(
    add.json.disk[0].hvinfo,
    { driver: "virtio-blk-pci", bus: "pci.0", addr: "0xe" },
    "slot after the two disks (0xc, 0xd)",
  );
  t.equal((await qomGet<number>(inst.vm.qmp, NEW_ID, "addr")) >> 3, 0xe, "QEMU placed it at 0xe");

  const rm = await runHook("disk-remove", REMOVE_ENV, { args: [...inst.pathArgs, "--unplug-timeout", "1"] });
  t.equal(rm.code, 1, "disk-remove fails");
  t.same(rm.json.change, ["disk/2", "hotplug:failed"]);
  t.equal(rm.json.error.code, "UNPLUG_TIMEOUT");
  t.match(rm.stderr, /stays attached/, "says the disk stays attached");
  t.ok((await inst.snapshot()).ids.includes(NEW_ID), "the device is still there");
  await qemuIo(inst.vm.qmp, NEW_ID, "write -P 0x22 0 64k");
  await qemuIo(inst.vm.qmp, NEW_ID, "flush");
  t.equal(
    readFileSync(img)
      .subarray(0, 65536)
      .every((b) => b === 0x22),
    true,
    "and still takes writes",
  );
  t.equal(inst.runtime()[3].length, 3, "the runtime entry is kept");

  const rm2 = await runHook("disk-remove", REMOVE_ENV, { args: [...inst.pathArgs, "--unplug-timeout", "1"] });
  t.equal(rm2.code, 1, "a second call while the guest still holds it fails the same way");
  t.match(rm2.stderr, /already pending/, "knowing the unplug is pending");

  await resetCompletingUnplug(inst.vm.qmp, NEW_ID);
  const rm3 = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
  t.equal(rm3.code, 0, `the next call finishes the job: ${rm3.stderr}`);
  t.equal(inst.runtime()[3].length, 2, "runtime entry removed");
  await nothingLeft(t, inst);
});

t.test("a disk attached with legacy -drive is refused before anything is sent", async (t) => {
  const inst = await legacyDisk(t);
  const before = await inst.snapshot();
  const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
  t.equal(rm.code, 1);
  t.equal(rm.json.error.code, "LEGACY_DRIVE");
  t.match(rm.stderr, /restart or live-migrate/, "explains what to do");
  t.same(await inst.snapshot(), before, "nothing changed");
  t.equal((await blockOf(inst.vm.qmp, NEW_ID))?.device, NEW_ID, "the legacy drive is still attached");
});

t.test("device_add failing after blockdev-add is rolled back", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  // Disk 2 is said to be disk 0's image: blockdev-add succeeds, device_add cannot take the write lock.
  const image0 = join(inst.diskDir, "image0.raw");
  symlinkSync(image0, join(inst.diskDir, `${INSTANCE}:2`));
  const add = await runHook("disk-add", { ...ADD_ENV, GANETI_POST_INSTANCE_DISK2_ID: image0 }, { args: inst.pathArgs });
  t.equal(add.code, 1, "disk-add fails");
  t.same(add.json.change, ["disk/2", "hotplug:failed"]);
  t.match(add.json.error.message, /device_add .* failed: .*lock.*removed again/, "names the cause and the rollback");
  await nothingLeft(t, inst);
  t.equal(inst.runtime()[3].length, 2, "runtime unchanged");
});

t.test("no change, pre phase, or another node: exit 0 and send nothing", async (t) => {
  const inst = await startInstance(t, {});
  const pre = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-pre.env");
  const r1 = await runHook("disk-add", pre, { args: inst.pathArgs });
  t.equal(r1.code, 0);
  t.match(r1.stderr, /post phase only/);
  const r2 = await runHook("disk-add", inst.env(ADD_ENV), {
    args: [...inst.pathArgs, "--qmp-dir", join(inst.base, "elsewhere")],
  });
  t.equal(r2.code, 0);
  t.match(r2.stderr, /does not run on this node/);
  const hvOnly: Record<string, string> = {
    ...loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-pre.env"),
    GANETI_HOOKS_PHASE: "post",
  };
  for (const [k, v] of Object.entries(hvOnly)) if (k.startsWith("GANETI_INSTANCE_")) hvOnly[`GANETI_POST_${k.slice(7)}`] = v;
  const r3 = await runHook("disk-remove", hvOnly, { args: inst.pathArgs });
  t.equal(r3.code, 0);
  t.match(r3.stderr, /no disk was removed/);
  t.same(await inst.snapshot(), inst.baseline, "nothing changed on the VM");
});

t.test("ide disks are refused before anything is sent", async (t) => {
  const inst = await startInstance(t, { disk_type: "ide" });
  inst.addImage(2);
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 2);
  t.match(add.stderr, /disk_type=ide cannot be hot-plugged/);
  t.same(await inst.snapshot(), inst.baseline, "nothing changed on the VM");
});

t.test("8 disk-add at once, then 8 disk-remove at once: distinct slots, nothing lost", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const uuids = Array.from({ length: 8 }, (_, i) => `c0ffee0${i}-1234-4abc-8def-00000000000${i}`);
  const images = uuids.map((_u, i) => inst.addImage(2 + i, 1 << 20));
  const payload = (i: number) =>
    JSON.stringify({
      disk: { uuid: uuids[i], dev_type: "file", mode: "rw", size: 1, logical_id: ["loop", images[i]] },
      index: 2 + i,
    });
  const adds = await Promise.all(
    uuids.map((_u, i) => runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs, stdin: payload(i) })),
  );
  t.same(
    adds.map((r) => r.code),
    Array(8).fill(0),
    `all adds succeed: ${adds.map((r) => r.stderr).join("")}`,
  );
  const ids = adds.map((r) => r.json.disk[0].hvinfo["scsi-id"]);
  t.equal(new Set(ids).size, 8, `distinct scsi-ids ${ids.join(",")}`);
  t.same(new Set(ids), new Set([2, 3, 4, 5, 6, 7, 8, 9]), "the eight free ids after disks 0 and 1");
  const live = await inst.snapshot();
  for (const u of uuids) t.ok(live.ids.includes(diskDeviceId(u)), `${diskDeviceId(u)} is attached`);
  t.same(
    inst
      .runtime()[3]
      .map((e) => e[0].uuid)
      .sort(),
    [
      ...inst
        .runtime()[3]
        .slice(0, 2)
        .map((e) => e[0].uuid),
      ...uuids,
    ].sort(),
    "runtime lists all ten disks",
  );

  const removes = await Promise.all(
    uuids.map((_u, i) => runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs, stdin: payload(i) })),
  );
  t.same(
    removes.map((r) => r.code),
    Array(8).fill(0),
    `all removes succeed: ${removes.map((r) => r.stderr).join("")}`,
  );
  t.equal(inst.runtime()[3].length, 2, "runtime lists exactly the two original disks");
  await nothingLeft(t, inst);
});

t.test("a slot already recorded for the disk is reused when the VM has it free", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  const link = inst.addImage(2);
  const doc = inst.runtime();
  doc[3].push([
    {
      uuid: NEW_UUID,
      dev_type: "file",
      mode: "rw",
      hvinfo: { driver: "virtio-blk-pci", id: NEW_ID, bus: "pci.0", addr: "0x1a" },
    },
    link,
    null,
  ]);
  writeFileSync(inst.runtimePath, JSON.stringify(doc));
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, add.stderr);
  t.match(add.json.disk[0].hvinfo, { addr: "0x1a" }, "the recorded slot");
  t.equal((await qomGet<number>(inst.vm.qmp, NEW_ID, "addr")) >> 3, 0x1a, "QEMU placed it there");
  t.equal(inst.runtime()[3].length, 3, "one entry for the disk, not two");
});

t.test("the hot-added disk follows the runtime file's up_hvp (aio=io_uring), not the environment", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci", disk_aio: "threads" });
  inst.addImage(2);
  const doc = inst.runtime();
  doc[2].disk_aio = "io_uring";
  writeFileSync(inst.runtimePath, JSON.stringify(doc));
  t.equal(ADD_ENV["GANETI_POST_INSTANCE_HV_disk_aio"], "native", "the environment says native");
  if (await eventLoopUsesIoUring(t, inst.base)) {
    // QEMU's own rings say nothing of the disk's aio: what the hook gave QEMU is checked.
    const { proxy, dir } = await proxyFor(t, inst);
    const add = await runHook("disk-add", inst.env(ADD_ENV), { args: [...inst.pathArgs, "--qmp-dir", dir] });
    t.equal(add.code, 0, add.stderr);
    const added = proxy.sent.find((c) => c.execute === "blockdev-add")?.arguments as { file?: { aio?: string } };
    t.equal(
      added?.file?.aio,
      "io_uring",
      "the new disk's protocol node has aio=io_uring (this QEMU's event loop has rings of its own)",
    );
    return;
  }
  const rings = () => openFiles(inst.vm.pid).filter((f) => f.target === "anon_inode:[io_uring]").length;
  t.equal(rings(), 0, "no io_uring ring before: the instance's disks use threads");
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, add.stderr);
  t.ok(rings() > 0, "QEMU opened an io_uring ring for the new disk");
});

t.test("a hot-added disk's unusual path (commas, '=', quotes, spaces, non-ASCII) reaches QEMU unchanged", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const dir = join(inst.base, `odd, dir=1 "q" 'x' \u00fc\u65e5`);
  mkdirSync(dir);
  const link = join(dir, "disk, 2=two.raw");
  writeFileSync(link, Buffer.alloc(1 << 20));
  const payload = JSON.stringify({
    disk: { uuid: NEW_UUID, dev_type: "file", mode: "rw", logical_id: ["loop", link] },
    link,
    index: 2,
  });
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs, stdin: payload });
  t.equal(add.code, 0, add.stderr);
  const nodes = await namedNodes(inst.vm.qmp);
  t.equal(nodes.find((n) => n["node-name"] === `${NEW_ID}-file`)?.file, link, "QEMU opened exactly that path");
  t.equal(inst.runtime()[3].at(-1)?.[1], link, "and the runtime entry records it");
  const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs, stdin: payload });
  t.equal(rm.code, 0, rm.stderr);
  await nothingLeft(t, inst);
});

t.test("a disk Ganeti 3.0 already hot-added with drive_add is recorded, not added twice", async (t) => {
  const inst = await legacyDisk(t);
  const before = await inst.snapshot();
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, add.stderr);
  t.match(add.stderr, /already attached with a legacy -drive backend/);
  t.match(add.json.disk[0].hvinfo, { addr: "0xe" }, "recorded where it is");
  t.same(await inst.snapshot(), before, "nothing sent that changes the VM");
});

t.test("the operator's config file sets the hooks' timeouts; a flag still wins", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  inst.addImage(2);
  t.equal((await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs })).code, 0);
  const config = join(inst.base, "config.json");
  writeFileSync(config, JSON.stringify({ timeouts: { unplug: 0.5 } }));
  const env = { ...REMOVE_ENV, GANETI_QEMU_BLOCKDEV_CONFIG: config };
  const rm = await runHook("disk-remove", env, { args: inst.pathArgs });
  t.equal(rm.json?.error?.code, "UNPLUG_TIMEOUT", "no guest: the unplug times out");
  t.match(rm.stderr, /within 0\.5 s/, "after the config's 0.5 s, not the default 15 s");
  const flag = await runHook("disk-remove", env, { args: [...inst.pathArgs, "--unplug-timeout", "0.7"] });
  t.match(flag.stderr, /within 0\.7 s/, "the flag wins over the config");
  writeFileSync(config, JSON.stringify({ timeouts: { unplug: -1 } }));
  const bad = await runHook("disk-remove", env, { args: inst.pathArgs });
  t.equal(bad.code, 2, "an invalid config: exit 2");
  t.match(bad.stderr, /INVALID_CONFIG.*at \$\.timeouts\.unplug: must be a number of seconds above 0/);
});

t.test("no free slot on the live VM: a hot-plug failure (exit 1, hotplug:failed), not invalid input", async (t) => {
  // lsi offers 7 targets; disks 0 and 1 take two, five more fill it.
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "lsi" });
  const payload = (i: number, img: string) =>
    JSON.stringify({
      disk: { uuid: `5107f00${i}-1234-4abc-8def-00000000000${i}`, dev_type: "file", mode: "rw", logical_id: ["loop", img] },
      index: 2 + i,
    });
  for (let i = 0; i < 5; i++) {
    const add = await runHook("disk-add", ADD_ENV, { args: inst.pathArgs, stdin: payload(i, inst.addImage(2 + i, 1 << 20)) });
    t.equal(add.code, 0, `disk ${2 + i}: ${add.stderr}`);
  }
  const before = await inst.snapshot();
  const full = await runHook("disk-add", ADD_ENV, { args: inst.pathArgs, stdin: payload(5, inst.addImage(7, 1 << 20)) });
  t.equal(full.code, 1, "exit 1: found on the live VM");
  t.same(full.json?.change, ["disk/7", "hotplug:failed"], "Ganeti's line says failed");
  t.match(full.json?.error?.message, /free|no .*left|all .*taken/i, full.json?.error?.message);
  t.same(await inst.snapshot(), before, "nothing changed");
});
