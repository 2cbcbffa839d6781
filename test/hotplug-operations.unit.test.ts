// Each hot-plug operation's branches, in-process against the scripted QMP server: what QEMU may
// answer that a real QEMU rarely can be made to (a stale node, a device of that id on another node,
// a legacy -drive disk, an unplug already pending, a refused blockdev-del), and what the hook then
// says, sends and records. The real-QEMU suites prove the common paths; this is the edit loop.
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import type { HotplugInput } from "../src/generated/hotplug-input.js";
import { GANETI_SHARE_VARIABLE } from "../src/host/ganeti-release.js";
import { runOperation } from "../src/hotplug/driver.js";
import { DISK_ADD } from "../src/hotplug/operations/disk-add.js";
import { DISK_GROW } from "../src/hotplug/operations/disk-grow.js";
import { DISK_REMOVE } from "../src/hotplug/operations/disk-remove.js";
import { reconcileInstance } from "../src/hotplug/reconcile.js";
import { loadEnv } from "./helpers/hook.js";
import {
  asGaneti30,
  fixture,
  HOT,
  IDS,
  NAME,
  REMOVE_ENV,
  runtimeDisks,
  scene,
  socket,
  vm,
  WITH_HOT,
} from "./helpers/hotplug-scene.js";
import { QmpFake, type Script } from "./helpers/qmp-fake.js";
import { tempDir } from "./helpers/tmp.js";

asGaneti30();
const POST = { GANETI_INSTANCE_NAME: NAME, GANETI_HOOKS_PHASE: "post" };
const UUID = "0123abcd-0000-4000-8000-000000000002";
const ID = "disk-0123abcd-0000-4000";

/** Ganeti 3.1's payload for a new file disk at index 2, with its image. */
function addInput(t: Test): HotplugInput {
  const image = join(tempDir(t), "hot.img");
  writeFileSync(image, Buffer.alloc(1 << 20));
  return { disk: { uuid: UUID, dev_type: "file", mode: "rw", logical_id: ["loop", image] }, index: 2 } as HotplugInput;
}

const PCI = { "query-pci": { return: [{ bus: 0, devices: [0, 1, 2, 3, 0xc, 0xd].map((slot) => ({ slot })) }] } };
const blockOf = (id: string, node: string, device = "") => ({
  device,
  qdev: `/machine/peripheral/${id}/virtio-backend`,
  inserted: { "node-name": node, ro: false, image: { "virtual-size": 1 << 20 } },
});

async function add(t: Test, script: Script) {
  const s = scene(t, fixture("kvm-runtime.instance-start.json"));
  const fake = await QmpFake.listen(t, socket(s), { ...vm(IDS), ...PCI, ...script });
  const status = await runOperation(DISK_ADD, s.run(POST, addInput(t)), s.out);
  return { s, fake, status, result: s.results[0] };
}

t.test("disk-add: attached, at the first free PCI slot, recorded", async (t) => {
  const { s, fake, status, result } = await add(t, {
    "blockdev-add": { return: {} },
    device_add: { return: {} },
    "query-block": (_a, n) => ({ return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(ID, ID)] : [])] }),
  });
  t.equal(status, 0, s.said.join("; "));
  t.same(result?.change, ["disk/2", "hotplug:done"]);
  const device = fake.received.find((r) => r.execute === "device_add")?.arguments;
  t.match(
    device,
    { driver: "virtio-blk-pci", id: ID, drive: ID, addr: "0xe" },
    "slot 0xe: Ganeti reserves 0–11, and 0xc, 0xd are taken",
  );
  t.ok(runtimeDisks(s).includes(UUID), "recorded in the runtime file");
  t.match(result?.disk?.[0].hvinfo, { id: ID, addr: "0xe" });
});

t.test("disk-add: a retry finds the disk attached and records it, adding nothing", async (t) => {
  const { fake, status, result, s } = await add(t, {
    "qom-list": { return: [...IDS, ID].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })) },
    "query-named-block-nodes": { return: [...IDS, ID].map((id) => ({ "node-name": id })) },
    "query-block": { return: [...IDS, ID].map((id) => blockOf(id, id)) },
    "qom-get": { return: 0x5 << 3 },
  });
  t.equal(status, 0);
  t.notOk(fake.commands.includes("blockdev-add"), "nothing added");
  t.match(result?.warnings, [/already attached; recording it/]);
  t.match(result?.disk?.[0].hvinfo, { addr: "0x5" }, "its slot, as QEMU has it");
  t.ok(runtimeDisks(s).includes(UUID));
});

t.test("disk-add: Ganeti 3.0's own legacy drive_add went first: recorded, with a warning", async (t) => {
  const { status, result } = await add(t, {
    "qom-list": { return: [...IDS, ID].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })) },
    "query-block": { return: [...IDS.map((id) => blockOf(id, id)), blockOf(ID, "#block123", "hotdisk-0123")] },
    "qom-get": { return: 0x6 << 3 },
  });
  t.equal(status, 0);
  t.match(result?.warnings, [/legacy -drive backend \('hotdisk-0123'\)/]);
});

t.test("disk-add: a device of that id on another node is refused, nothing changed", async (t) => {
  const { fake, status, result } = await add(t, {
    "qom-list": { return: [...IDS, ID].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })) },
    "query-block": { return: [...IDS.map((id) => blockOf(id, id)), blockOf(ID, "other-node")] },
  });
  t.equal(status, 1);
  t.equal(result?.error?.code, "DEVICE_ID_TAKEN");
  t.notOk(
    fake.commands.some((c) => c.startsWith("blockdev") || c.startsWith("device")),
    "nothing sent to change QEMU",
  );
});

t.test("disk-add: a node left by a crash is deleted before the disk is added; one in use is refused", async (t) => {
  const stale = { "query-named-block-nodes": { return: [...IDS, ID].map((id) => ({ "node-name": id })) } };
  const added = {
    "blockdev-add": { return: {} },
    device_add: { return: {} },
    "query-block": (_a: unknown, n: number) => ({
      return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(ID, ID)] : [])],
    }),
  };
  await t.test("by reconcile-first", async (t) => {
    const { status, s } = await add(t, { ...stale, ...added, "blockdev-del": { return: {} } });
    t.equal(status, 0);
    t.match(s.said, [`reconcile: deleted block node ${ID}, which no device used`]);
  });
  await t.test("by the hot-add, where reconcile-first could not", async (t) => {
    const { status, result, fake } = await add(t, {
      ...stale,
      ...added,
      "blockdev-del": (_a, n) => (n === 1 ? { error: { class: "GenericError", desc: "busy" } } : { return: {} }),
    });
    t.equal(status, 0);
    t.match(result?.warnings, [`removed block node ${ID} left behind by an earlier attempt`]);
    t.ok(fake.commands.lastIndexOf("blockdev-del") < fake.commands.indexOf("blockdev-add"), "before the new one");
  });
  await t.test("in use: refused", async (t) => {
    const { status, result } = await add(t, {
      ...stale,
      "blockdev-del": { error: { class: "GenericError", desc: `Node ${ID} is in use` } },
    });
    t.equal(status, 1);
    t.equal(result?.error?.code, "STALE_NODE");
    t.match(result?.error?.message, /in use.*nothing was changed/);
  });
});

t.test("disk-add: the check after device_add fails; the device is unplugged and the node deleted, in reverse", async (t) => {
  const { fake, status, result } = await add(t, {
    "qom-list": (_a, n) => ({
      return: [...IDS, ...(n === 2 ? [ID] : [])].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })),
    }),
    "query-named-block-nodes": (_a, n) => ({ return: [...IDS, ...(n === 2 ? [ID] : [])].map((id) => ({ "node-name": id })) }),
    "blockdev-add": { return: {} },
    device_add: { return: {} },
    // QEMU shows the device without the node behind it.
    "query-block": (_a, n) => ({ return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(ID, "elsewhere")] : [])] }),
    device_del: { return: {}, events: [{ event: "DEVICE_DELETED", data: { device: ID } }] },
    "blockdev-del": { return: {} },
  });
  t.equal(status, 1);
  t.equal(result?.error?.code, "VERIFY_FAILED");
  t.match(result?.error?.message, /device .* and block node .* were removed again, the VM is as it was/);
  const tail = fake.commands.slice(fake.commands.indexOf("device_add") + 1);
  t.same(tail, ["query-block", "qom-list", "query-named-block-nodes", "device_del", "blockdev-del"], "device first, then node");
});

t.test("disk-add: the connection drops at device_add; a new one undoes blockdev-add", async (t) => {
  const { fake, status, result } = await add(t, {
    "query-named-block-nodes": (_a, n) => ({ return: [...IDS, ...(n === 2 ? [ID] : [])].map((id) => ({ "node-name": id })) }),
    "blockdev-add": { return: {} },
    device_add: "drop",
    "blockdev-del": { return: {} },
  });
  t.equal(status, 1);
  t.match(result?.error?.message, /block node .* was removed again, the VM is as it was/);
  t.equal(fake.connections, 2, "one more connection, for the rollback");
  t.equal(fake.commands.at(-1), "blockdev-del");
});

async function remove(t: Test, script: Script, runtime = WITH_HOT) {
  const s = scene(t, runtime);
  const before = readFileSync(s.runtimePath, "utf8");
  const fake = await QmpFake.listen(t, socket(s), { ...vm([...IDS, HOT]), ...script });
  const status = await runOperation(DISK_REMOVE, s.run(REMOVE_ENV), s.out);
  return { s, fake, status, result: s.results[0], before };
}

const deleted = { return: {}, events: [{ event: "DEVICE_DELETED", data: { device: HOT } }] };
/** The hot disk's device and node, there at the first look and gone at every later one. */
const goneAfterFirstLook: Script = {
  "qom-list": (_a, n) => ({
    return: [...IDS, ...(n === 1 ? [HOT] : [])].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })),
  }),
  "query-named-block-nodes": (_a, n) => ({ return: [...IDS, ...(n === 1 ? [HOT] : [])].map((id) => ({ "node-name": id })) }),
};

t.test("disk-remove: a legacy -drive disk is refused, nothing changed", async (t) => {
  const { status, result, fake } = await remove(t, {
    "query-block": { return: [...IDS.map((id) => blockOf(id, id)), blockOf(HOT, "#block1", "hotdisk-2")] },
  });
  t.equal(status, 1);
  t.equal(result?.error?.code, "LEGACY_DRIVE");
  t.notOk(fake.commands.includes("device_del"));
});

t.test("disk-remove: an unplug already pending is waited for again", async (t) => {
  const { status, result } = await remove(t, {
    device_del: {
      error: { class: "GenericError", desc: `Device ${HOT} is already in the process of unplug` },
    },
    "blockdev-del": { return: {} },
    // The guest lets go meanwhile (no event: it came before this hook listened).
    ...goneAfterFirstLook,
  });
  t.equal(status, 0, "done once the device is gone");
  t.match(result?.warnings, [/unplug of .* was already pending/]);
});

t.test("disk-remove: Ganeti's own unplug finished first (DeviceNotFound): done, checked with QEMU", async (t) => {
  const { status, fake, s } = await remove(t, {
    device_del: { error: { class: "DeviceNotFound", desc: `Device '${HOT}' not found` } },
    ...goneAfterFirstLook,
    "blockdev-del": { return: {} },
  });
  t.equal(status, 0, s.said.join("; "));
  t.ok(fake.commands.filter((c) => c === "qom-list").length >= 2, "QEMU asked whether the device is gone");
});

t.test("disk-remove: the guest refuses; the disk stays, recorded", async (t) => {
  const { status, result, s, before } = await remove(t, {
    device_del: { return: {}, events: [{ event: "DEVICE_UNPLUG_GUEST_ERROR", data: { device: HOT } }] },
  });
  t.equal(status, 1);
  t.equal(result?.error?.code, "GUEST_REFUSED");
  t.equal(readFileSync(s.runtimePath, "utf8"), before);
});

t.test("disk-remove: blockdev-del refused after the guest let go: the node named as left, the entry dropped", async (t) => {
  const { status, result, s } = await remove(t, {
    device_del: deleted,
    "blockdev-del": { error: { class: "GenericError", desc: "Node is in use" } },
  });
  t.equal(status, 1);
  t.equal(result?.error?.code, "BLOCKDEV_DEL_FAILED");
  t.match(result?.error?.message, /block node disk-f0647398-5c2c-4b5c is left/);
  t.notOk(runtimeDisks(s).includes("f0647398-5c2c-4b5c-903a-76aaad150ecc"), "the guest no longer has it: the entry goes");
});

t.test("disk-remove: a node already gone is not an error, and is checked once", async (t) => {
  const { status, fake } = await remove(t, {
    ...goneAfterFirstLook,
    device_del: deleted,
    "blockdev-del": { error: { class: "GenericError", desc: `Failed to find node with node-name='${HOT}'` } },
  });
  t.equal(status, 0);
  t.equal(fake.commands.at(-2), "qom-list", "QEMU's word that both are gone, asked since it did not confirm the node's deletion");
});

t.test("reconcile-first: nodes no device uses and their orphaned children go, entries QEMU lacks are dropped", async (t) => {
  const { s, status, fake } = await remove(t, {
    "qom-list": { return: [HOT].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })) },
    "query-named-block-nodes": {
      return: [IDS[0], `${IDS[1]}-file`, HOT].map((id) => ({ "node-name": id })),
    },
    "query-block": { return: [blockOf(HOT, HOT)] },
    device_del: deleted,
    "blockdev-del": { return: {} },
  });
  t.equal(status, 0);
  t.match(s.said, [
    `reconcile: deleted block node ${IDS[0]}, which no device used`,
    `reconcile: deleted block node ${IDS[1]}-file, which its disk node left behind`,
    /reconcile: dropped the runtime entry of disk 077af63e/,
    /reconcile: dropped the runtime entry of disk 10aa34ab/,
  ]);
  t.same(runtimeDisks(s), [], "the runtime file follows QEMU, then loses the removed disk");
  t.same(
    fake.received.filter((r) => r.execute === "blockdev-del").map((r) => r.arguments?.["node-name"]),
    [IDS[0], `${IDS[1]}-file`, HOT],
  );
});

t.test("disk-grow: block_resize to the backing store's size, by node name; never shrinks", async (t) => {
  const grow = async (t: Test, bytes: number) => {
    const s = scene(t, WITH_HOT);
    const image = join(tempDir(t), "grown.img");
    writeFileSync(image, "");
    truncateSync(image, bytes);
    const size = { n: 1 << 20 };
    const fake = await QmpFake.listen(t, socket(s), {
      "query-block": () => ({
        return: [{ ...blockOf(HOT, HOT), inserted: { "node-name": HOT, ro: false, image: { "virtual-size": size.n } } }],
      }),
      block_resize: (a) => {
        size.n = Number(a?.["size"]);
        return { return: {} };
      },
    });
    const input = {
      disk: { uuid: "f0647398-5c2c-4b5c-903a-76aaad150ecc", dev_type: "file", mode: "rw", logical_id: ["loop", image] },
      index: 2,
    };
    const status = await runOperation(DISK_GROW, s.run(POST, input as HotplugInput), s.out);
    return { status, fake, s, result: s.results[0] };
  };
  await t.test("grown", async (t) => {
    const { status, fake, result } = await grow(t, 2 << 20);
    t.equal(status, 0);
    t.same(fake.received.find((r) => r.execute === "block_resize")?.arguments, { "node-name": HOT, size: 2 << 20 });
    t.equal(result?.disk?.[0].size, 2, "the runtime entry in MiB");
  });
  await t.test("smaller: refused", async (t) => {
    const { status, fake, result } = await grow(t, 1 << 19);
    t.equal(status, 1);
    t.equal(result?.error?.code, "WOULD_SHRINK");
    t.notOk(fake.commands.includes("block_resize"));
  });
  await t.test("the same size: nothing to tell QEMU", async (t) => {
    const { status, result } = await grow(t, 1 << 20);
    t.equal(status, 0);
    t.match(result?.warnings, [/already has 1048576 bytes in QEMU/]);
  });
});

t.test("QEMU does not answer at all: reconcile-first says so, the change fails with the connection's error", async (t) => {
  const s = scene(t, WITH_HOT);
  writeFileSync(socket(s), ""); // a socket path nobody listens on
  const status = await runOperation(DISK_REMOVE, s.run(REMOVE_ENV), s.out);
  t.equal(status, 1);
  t.match(s.said[0], /^warning: reconciling .* first was not possible/);
  t.match(s.results[0]?.error?.code, /^QMP_/);
});

/** A recorded Ganeti 3.0 environment, its disk paths on this node's scratch images. */
function envWithImages(t: Test, file: string, disks: number[]) {
  const env = loadEnv(file);
  const dir = tempDir(t);
  for (const i of disks) {
    const image = join(dir, `disk${i}.img`);
    writeFileSync(image, "");
    truncateSync(image, 1 << 20);
    for (const view of ["GANETI_INSTANCE", "GANETI_POST_INSTANCE"])
      if (env[`${view}_DISK${i}_ID`]) env[`${view}_DISK${i}_ID`] = image;
  }
  return env;
}

t.test("disk-add from Ganeti 3.0's environment alone: the disk the post view adds, from its own path", async (t) => {
  const s = scene(t, fixture("kvm-runtime.instance-start.json"));
  const env = envWithImages(t, "ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env", [0, 1, 2]);
  const fake = await QmpFake.listen(t, socket(s), {
    ...vm(IDS),
    ...PCI,
    "blockdev-add": { return: {} },
    device_add: { return: {} },
    "query-block": (_a, n) => ({ return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(HOT, HOT)] : [])] }),
  });
  const status = await runOperation(DISK_ADD, s.run(env), s.out);
  t.equal(status, 0, s.said.join("; "));
  t.same(s.results[0]?.change, ["disk/2", "hotplug:done"]);
  const node = fake.received.find((r) => r.execute === "blockdev-add")?.arguments;
  t.match(node, { "node-name": HOT, file: { filename: env["GANETI_POST_INSTANCE_DISK2_ID"] } }, "QEMU opens the disk's own path");
  t.ok(runtimeDisks(s).includes("f0647398-5c2c-4b5c-903a-76aaad150ecc"));
});

t.test("disk-grow from Ganeti 3.0's environment alone: GANETI_DISK names the grown disk", async (t) => {
  const s = scene(t, WITH_HOT);
  const env = envWithImages(t, "ganeti-3.0.2/disk-grow-online-post.env", [0, 1]);
  truncateSync(env["GANETI_POST_INSTANCE_DISK1_ID"] as string, 2 << 20);
  const id = IDS[1] as string;
  const size = { n: 1 << 20 };
  const fake = await QmpFake.listen(t, socket(s), {
    "query-block": () => ({
      return: [{ ...blockOf(id, id), inserted: { "node-name": id, ro: false, image: { "virtual-size": size.n } } }],
    }),
    block_resize: (a) => {
      size.n = Number(a?.["size"]);
      return { return: {} };
    },
  });
  t.equal(await runOperation(DISK_GROW, s.run(env), s.out), 0, s.said.join("; "));
  t.same(fake.received.find((r) => r.execute === "block_resize")?.arguments, { "node-name": id, size: 2 << 20 });
});

/** The runtime file of an instance started with SCSI disks (the fixture's, its hvparams changed). */
function scsiRuntime() {
  const doc = structuredClone(fixture("kvm-runtime.instance-start.json"));
  doc[2]["disk_type"] = "scsi-hd";
  doc[2]["scsi_controller_type"] = "virtio-scsi-pci";
  return doc;
}
const scsiVm = (ids: string[], controller = true): Script => ({
  "qom-list": {
    return: [
      ...(controller ? [{ name: "scsi", type: "child<virtio-scsi-pci>" }] : []),
      ...ids.map((id) => ({ name: id, type: "child<scsi-hd>" })),
    ],
  },
  "query-named-block-nodes": { return: ids.map((id) => ({ "node-name": id })) },
  "qom-get": (a) => ({ return: ids.indexOf(String(a?.["path"]).split("/").at(-1) ?? "") }),
});

t.test("disk-add on SCSI: the next free SCSI id, from QEMU's own; no controller: refused", async (t) => {
  await t.test("placed", async (t) => {
    const s = scene(t, scsiRuntime());
    const fake = await QmpFake.listen(t, socket(s), {
      ...scsiVm(IDS),
      "query-block": (_a, n) => ({
        return: [...IDS, ...(n > 1 ? [ID] : [])].map((id) => ({
          device: "",
          qdev: id,
          inserted: { "node-name": id, ro: false },
        })),
      }),
      "blockdev-add": { return: {} },
      device_add: { return: {} },
    });
    t.equal(await runOperation(DISK_ADD, s.run(POST, addInput(t)), s.out), 0, s.said.join("; "));
    t.match(fake.received.find((r) => r.execute === "device_add")?.arguments, { driver: "scsi-hd", bus: "scsi.0", "scsi-id": 2 });
    t.equal(fake.commands.filter((c) => c === "qom-get").length, 2, "one scsi-id asked per SCSI disk, once");
    t.notOk(fake.commands.includes("query-pci"), "no PCI slot to find for a SCSI disk");
  });
  await t.test("no controller", async (t) => {
    const s = scene(t, scsiRuntime());
    await QmpFake.listen(t, socket(s), { ...scsiVm(IDS, false), "query-block": { return: [] } });
    t.equal(await runOperation(DISK_ADD, s.run(POST, addInput(t)), s.out), 1);
    t.equal(s.results[0]?.error?.code, "NO_SCSI_CONTROLLER");
  });
});

t.test("disk-add: a rollback the guest does not let finish keeps the disk, recorded, and says so", async (t) => {
  const { s, status, result } = await add(t, {
    "qom-list": (_a, n) => ({
      return: [...IDS, ...(n > 1 ? [ID] : [])].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })),
    }),
    "query-named-block-nodes": (_a, n) => ({ return: [...IDS, ...(n > 1 ? [ID] : [])].map((id) => ({ "node-name": id })) }),
    "blockdev-add": { return: {} },
    device_add: { return: {} },
    "query-block": (_a, n) => ({ return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(ID, "elsewhere")] : [])] }),
    device_del: { return: {} }, // and no DEVICE_DELETED: the guest holds on
  });
  t.equal(status, 1);
  t.match(result?.error?.message, /could not be unplugged .* stay attached/);
  t.ok(runtimeDisks(s).includes(UUID), "recorded: the guest still has it");
});

t.test("the operator's reconcile: from the instance's name alone, under its lock, the runtime file rewritten", async (t) => {
  const s = scene(t, WITH_HOT);
  const fake = await QmpFake.listen(t, socket(s), vm(IDS)); // QEMU has no device for disk 2 any more
  const actions = await reconcileInstance(NAME, { paths: s.paths, qmpTimeoutMs: 500, lockTimeoutMs: 300 });
  t.match(actions, [/dropped the runtime entry of disk f0647398/]);
  t.notOk(runtimeDisks(s).includes("f0647398-5c2c-4b5c-903a-76aaad150ecc"));
  t.equal(fake.connections, 1);
  t.same(await reconcileInstance(NAME, { paths: s.paths, qmpTimeoutMs: 500, lockTimeoutMs: 300 }), [], "then nothing to do");
});

t.test("disk-add: a disk whose path Ganeti does not give is refused before QEMU is asked", async (t) => {
  await t.test("JSON without logical_id", async (t) => {
    const s = scene(t, fixture("kvm-runtime.instance-start.json"));
    const fake = await QmpFake.listen(t, socket(s), vm(IDS));
    const input = { disk: { uuid: UUID, dev_type: "file", mode: "rw" }, index: 2 } as HotplugInput;
    await t.rejects(runOperation(DISK_ADD, s.run(POST, input), s.out), { code: "INVALID_JSON", message: /\$\.disk\.logical_id/ });
    t.equal(fake.connections, 0);
  });
  await t.test("an environment without DISK2_ID", async (t) => {
    const s = scene(t, fixture("kvm-runtime.instance-start.json"));
    const fake = await QmpFake.listen(t, socket(s), vm(IDS));
    const { GANETI_POST_INSTANCE_DISK2_ID: _, ...env } = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
    await t.rejects(runOperation(DISK_ADD, s.run(env), s.out), { code: "INVALID_ENV", message: /GANETI_POST_INSTANCE_DISK2_ID/ });
    t.equal(fake.connections, 0);
  });
});

t.test(
  "disk-add under Ganeti 3.1: a disk Ganeti did not attach is left to the next start, but on 3.0's runtime file the hook attaches it",
  async (t) => {
    process.env[GANETI_SHARE_VARIABLE] = "/usr/share/ganeti/3.1";
    t.teardown(asGaneti30);
    await t.test("not attached, --no-hotplug", async (t) => {
      const { s, status, fake } = await add(t, {});
      t.equal(status, 0);
      t.match(s.said, [/note: Ganeti did not hot-plug disk\/2/]);
      t.notOk(fake.commands.includes("blockdev-add"));
    });
    await t.test("disk_discard=default", async (t) => {
      const doc = structuredClone(fixture("kvm-runtime.instance-start.json"));
      doc[2]["disk_discard"] = "default";
      const s = scene(t, doc);
      await QmpFake.listen(t, socket(s), {
        ...vm(IDS),
        ...PCI,
        "blockdev-add": { return: {} },
        device_add: { return: {} },
        "query-block": (_a, n) => ({ return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(ID, ID)] : [])] }),
      });
      t.equal(await runOperation(DISK_ADD, s.run(POST, addInput(t)), s.out), 0, s.said.join("; "));
      t.ok(
        s.results[0]?.warnings.some((w) => /Ganeti 3.1 cannot hot-plug on this runtime file from Ganeti 3.0/.test(w)),
        "says why",
      );
      const after = JSON.parse(readFileSync(s.runtimePath, "utf8"));
      t.equal(after[2].disk_discard, "ignore", "and mends the runtime file for Ganeti's next hot-add");
    });
  },
);

t.test("disk-add: the new disk's disk-qos: limits, set at once after device_add", async (t) => {
  const attached = {
    "blockdev-add": { return: {} },
    device_add: { return: {} },
    "query-block": (_a: unknown, n: number) => ({
      return: [...IDS.map((id) => blockOf(id, id)), ...(n > 1 ? [blockOf(ID, ID)] : [])],
    }),
  };
  const tagged = (t: Test, tags: string) => {
    const s = scene(t, fixture("kvm-runtime.instance-start.json"));
    return { s, env: { ...POST, GANETI_INSTANCE_TAGS: tags }, input: addInput(t) };
  };
  await t.test("set", async (t) => {
    const { s, env, input } = tagged(t, "web disk-qos:disk2:iops:50");
    const fake = await QmpFake.listen(t, socket(s), { ...vm(IDS), ...PCI, ...attached, block_set_io_throttle: { return: {} } });
    t.equal(await runOperation(DISK_ADD, s.run(env, input), s.out), 0, s.said.join("; "));
    t.match(fake.received.find((r) => r.execute === "block_set_io_throttle")?.arguments, {
      id: `/machine/peripheral/${ID}/virtio-backend`,
      iops: 50,
      bps: 0,
      group: ID,
    });
  });
  await t.test("QEMU refuses it: the disk stays attached and recorded, the change fails with what to do", async (t) => {
    const { s, env, input } = tagged(t, "disk-qos:disk2:iops:50");
    await QmpFake.listen(t, socket(s), {
      ...vm(IDS),
      ...PCI,
      ...attached,
      block_set_io_throttle: { error: { class: "GenericError", desc: "no throttling here" } },
    });
    t.equal(await runOperation(DISK_ADD, s.run(env, input), s.out), 1);
    t.equal(s.results[0]?.error?.code, "QOS_NOT_APPLIED");
    t.match(
      s.results[0]?.error?.message,
      /disk\/2 is attached, without the I\/O limits .*no throttling here.*ganeti-qemu-blockdev qos/,
    );
    t.ok(runtimeDisks(s).includes(UUID), "recorded: QEMU has it");
  });
  await t.test("a malformed tag: invalid input, nothing sent", async (t) => {
    const { s, env, input } = tagged(t, "disk-qos:disk2:iops:lots");
    const fake = await QmpFake.listen(t, socket(s), { ...vm(IDS), ...PCI });
    await t.rejects(runOperation(DISK_ADD, s.run(env, input), s.out), { code: "BAD_QOS_TAG" });
    t.equal(fake.connections, 0);
  });
  await t.test("Ganeti 3.1 attached and recorded it itself: only its limits are set", async (t) => {
    process.env[GANETI_SHARE_VARIABLE] = "/usr/share/ganeti/3.1";
    t.teardown(asGaneti30);
    const s = scene(t, WITH_HOT);
    const input = {
      disk: {
        uuid: "f0647398-5c2c-4b5c-903a-76aaad150ecc",
        dev_type: "file",
        mode: "rw",
        logical_id: ["loop", join(tempDir(t), "x")],
      },
      index: 2,
    } as HotplugInput;
    const fake = await QmpFake.listen(t, socket(s), {
      ...vm([...IDS, HOT]),
      ...PCI,
      "query-block": { return: [...IDS, HOT].map((id) => blockOf(id, id)) },
      block_set_io_throttle: { return: {} },
    });
    t.equal(
      await runOperation(DISK_ADD, s.run({ ...POST, GANETI_INSTANCE_TAGS: "disk-qos:disk2:bps:1M" }, input), s.out),
      0,
      s.said.join("; "),
    );
    t.notOk(fake.commands.includes("blockdev-add"), "nothing added");
    t.match(fake.received.find((r) => r.execute === "block_set_io_throttle")?.arguments, { bps: 1 << 20, group: HOT });
  });
});

t.test("disk-add with disk_aio=io_uring on a QEMU built without it: refused as a failed hot-plug, nothing added", async (t) => {
  const doc = structuredClone(fixture("kvm-runtime.instance-start.json"));
  doc[2]["disk_aio"] = "io_uring";
  doc[2]["disk_cache"] = "none";
  const s = scene(t, doc);
  const fake = await QmpFake.listen(t, socket(s), { ...vm(IDS), ...PCI, "query-qmp-schema": { return: [] } });
  const status = await runOperation(DISK_ADD, s.run(POST, addInput(t)), s.out);
  t.equal(status, 1, s.said.join("; "));
  t.equal(s.results[0]?.error?.code, "IO_URING_UNAVAILABLE");
  t.notOk(fake.commands.includes("blockdev-add"));
});

t.test("the driver's own notes: an instance not on this node, a modify that changed no disk", async (t) => {
  const s = scene(t, WITH_HOT);
  t.equal(await runOperation(DISK_REMOVE, s.run(REMOVE_ENV), s.out), 0, "no QMP socket: exit 0");
  t.match(s.said, [/does not run on this node/]);
  const fake = await QmpFake.listen(t, socket(s), vm([...IDS, HOT]));
  const same: Record<string, string> = { ...REMOVE_ENV, GANETI_POST_INSTANCE_DISK_COUNT: "3" };
  for (const k of Object.keys(REMOVE_ENV).filter((k) => k.startsWith("GANETI_INSTANCE_DISK2_"))) {
    same[`GANETI_POST_${k.slice(7)}`] = REMOVE_ENV[k] as string;
  }
  t.equal(await runOperation(DISK_REMOVE, s.run(same), s.out), 0);
  t.match(s.said.at(-1), /no disk was removed .*; nothing to do/);
  t.same(fake.commands, ["qom-list", "query-named-block-nodes", "query-block"], "reconcile-first's look, and nothing else");
});

t.test("disk-remove: what QEMU did not confirm is checked; still there, or no answer, each said", async (t) => {
  const unconfirmed: Script = {
    device_del: { error: { class: "DeviceNotFound", desc: "gone" } },
    "blockdev-del": { error: { class: "GenericError", desc: `Failed to find node with node-name='${HOT}'` } },
  };
  await t.test("still present", async (t) => {
    const { status, result } = await remove(t, {
      ...unconfirmed,
      "qom-list": (_a, n) => ({
        return: [...IDS, ...(n !== 2 ? [HOT] : [])].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })),
      }),
    });
    t.equal(status, 1);
    t.equal(result?.error?.code, "VERIFY_FAILED");
  });
  await t.test("no answer", async (t) => {
    const { status, result } = await remove(t, {
      ...unconfirmed,
      "qom-list": (_a, n) =>
        n === 3
          ? { error: { class: "GenericError", desc: "busy" } }
          : { return: [...IDS, ...(n === 1 ? [HOT] : [])].map((id) => ({ name: id, type: "child<virtio-blk-pci>" })) },
    });
    t.equal(status, 0);
    t.match(result?.warnings, [/could not double-check that .* is gone/]);
  });
});
