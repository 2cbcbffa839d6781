// The hot-plug contract's fast floor: src/hotplug/driver.ts and its operations in-process, against
// a scripted QMP server (helpers/qmp-fake.ts) instead of QEMU. What is checked here: the commands
// sent and their order (one session, no question asked twice, rollback in reverse), the result
// line and exit status, warnings, and the runtime file. test/hotplug.qemu.test.ts and the fault
// matrices prove the same against real QEMU.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lockDirOf } from "../src/ganeti/paths.js";
import type { HotplugInput } from "../src/generated/hotplug-input.js";
import { GANETI_SHARE_VARIABLE } from "../src/host/ganeti-release.js";
import { runOperation } from "../src/hotplug/driver.js";
import { lockInstance } from "../src/hotplug/lock.js";
import { DISK_ADD } from "../src/hotplug/operations/disk-add.js";
import { DISK_REMOVE } from "../src/hotplug/operations/disk-remove.js";
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
import { QmpFake } from "./helpers/qmp-fake.js";
import { tempDir } from "./helpers/tmp.js";

asGaneti30();

t.test("disk-remove: one connection, each question once, no double check of what QEMU confirmed", async (t) => {
  const s = scene(t, WITH_HOT);
  const fake = await QmpFake.listen(t, socket(s), {
    ...vm([...IDS, HOT]),
    device_del: { return: {}, events: [{ event: "DEVICE_DELETED", data: { device: HOT, path: `/machine/peripheral/${HOT}` } }] },
    "blockdev-del": { return: {} },
  });
  const status = await runOperation(DISK_REMOVE, s.run(REMOVE_ENV), s.out);
  t.equal(status, 0, `done: ${s.said.join("; ")}`);
  t.same(
    s.results.map((r) => r.change),
    [["disk/2", "hotplug:done"]],
    "one result line",
  );
  t.equal(fake.connections, 1, "one QMP connection for the run");
  t.same(fake.commands, ["qom-list", "query-named-block-nodes", "query-block", "device_del", "blockdev-del"]);
  t.same(fake.received.find((r) => r.execute === "blockdev-del")?.arguments, { "node-name": HOT }, "the disk's node is deleted");
  t.notOk(runtimeDisks(s).includes("f0647398-5c2c-4b5c-903a-76aaad150ecc"), "the runtime file lost the disk");
  t.match(s.logged, [/^inst1\.ganeti\.test disk\/2 hotplug:done \(\d+ ms\)$/], "one line in the plugin's log");
});

t.test("disk-remove: a guest that does not let go keeps its disk, recorded, exit 1", async (t) => {
  const s = scene(t, WITH_HOT);
  const before = readFileSync(s.runtimePath, "utf8");
  const fake = await QmpFake.listen(t, socket(s), { ...vm([...IDS, HOT]), device_del: { return: {} } });
  const status = await runOperation(DISK_REMOVE, s.run(REMOVE_ENV), s.out);
  t.equal(status, 1, "failed");
  t.equal(s.results[0]?.error?.code, "UNPLUG_TIMEOUT");
  t.match(s.results[0]?.error?.message, /stays attached and recorded/);
  t.notOk(fake.commands.includes("blockdev-del"), "the node of a disk the guest still has is left alone");
  t.equal(readFileSync(s.runtimePath, "utf8"), before, "the runtime file as it was");
});

t.test("disk-add: a failed device_add is rolled back in reverse, the first error kept", async (t) => {
  const s = scene(t, fixture("kvm-runtime.instance-start.json"));
  const before = readFileSync(s.runtimePath, "utf8");
  const image = join(tempDir(t), "hot.img");
  writeFileSync(image, Buffer.alloc(1 << 20));
  const uuid = "0123abcd-0000-4000-8000-000000000002";
  const id = "disk-0123abcd-0000-4000";
  const fake = await QmpFake.listen(t, socket(s), {
    ...vm(IDS),
    // After blockdev-add, QEMU has the node: the rollback finds it and deletes it.
    "query-named-block-nodes": (_a, n) => ({ return: [...IDS, ...(n > 1 ? [id] : [])].map((x) => ({ "node-name": x })) }),
    "query-pci": { return: [{ bus: 0, devices: [0, 1, 2, 3, 0xc, 0xd].map((slot) => ({ slot })) }] },
    "blockdev-add": { return: {} },
    device_add: { error: { class: "GenericError", desc: "no room at the inn" } },
    "blockdev-del": { return: {} },
  });
  const input = { disk: { uuid, dev_type: "file", mode: "rw", logical_id: ["loop", image] }, index: 2 } as HotplugInput;
  const status = await runOperation(DISK_ADD, s.run({ GANETI_INSTANCE_NAME: NAME, GANETI_HOOKS_PHASE: "post" }, input), s.out);
  t.equal(status, 1, "failed");
  t.same(fake.commands, [
    "qom-list",
    "query-named-block-nodes",
    "query-block",
    "query-pci",
    "blockdev-add",
    "device_add",
    "query-block",
    "qom-list",
    "query-named-block-nodes",
    "blockdev-del",
  ]);
  t.equal(fake.connections, 1, "the rollback on the same connection");
  t.equal(s.results[0]?.error?.code, "DEVICE_ADD_FAILED", "the first error");
  t.match(
    s.results[0]?.error?.message,
    /no room at the inn.*block node disk-0123abcd-0000-4000 was removed again, the VM is as it was/,
  );
  t.equal(readFileSync(s.runtimePath, "utf8"), before, "nothing recorded");
});

t.test("another hook holds the instance: each change fails with the lock's error, QEMU never asked", async (t) => {
  const s = scene(t, WITH_HOT);
  const fake = await QmpFake.listen(t, socket(s), vm([...IDS, HOT]));
  const release = await lockInstance(NAME, 1000, lockDirOf(s.paths));
  t.teardown(release);
  const status = await runOperation(DISK_REMOVE, s.run(REMOVE_ENV), s.out);
  t.equal(status, 1);
  t.equal(s.results[0]?.error?.code, "LOCK_TIMEOUT");
  t.match(s.said, [/^warning: reconciling inst1\.ganeti\.test first was not possible/], "reconcile-first says so and goes on");
  t.equal(fake.connections, 0, "no connection to QEMU");
});

t.test("invalid input: an InputError before any connection (exit 2 from the hook)", async (t) => {
  const runtime = structuredClone(WITH_HOT);
  runtime[2]["disk_type"] = "ide";
  const s = scene(t, runtime);
  const fake = await QmpFake.listen(t, socket(s), vm(IDS));
  const input = {
    disk: { uuid: "0123abcd-0000-4000-8000-000000000002", dev_type: "file", mode: "rw", logical_id: ["loop", "/x"] },
    index: 2,
  };
  await t.rejects(
    runOperation(DISK_ADD, s.run({ GANETI_INSTANCE_NAME: NAME, GANETI_HOOKS_PHASE: "post" }, input as HotplugInput), s.out),
    { code: "NOT_HOTPLUGGABLE" },
  );
  t.equal(fake.connections, 0, "QEMU was not contacted");
});

t.test("Ganeti 3.1 attached and recorded the disk itself: one look, nothing added, nothing said", async (t) => {
  process.env[GANETI_SHARE_VARIABLE] = "/usr/share/ganeti/3.1";
  t.teardown(() => {
    process.env[GANETI_SHARE_VARIABLE] = "/usr/share/ganeti/3.0";
  });
  const s = scene(t, WITH_HOT);
  const fake = await QmpFake.listen(t, socket(s), vm([...IDS, HOT]));
  const input = {
    disk: { uuid: "f0647398-5c2c-4b5c-903a-76aaad150ecc", dev_type: "file", mode: "rw", logical_id: ["loop", "/x"] },
    index: 2,
  };
  const status = await runOperation(
    DISK_ADD,
    s.run({ GANETI_INSTANCE_NAME: NAME, GANETI_HOOKS_PHASE: "post" }, input as HotplugInput),
    s.out,
  );
  t.equal(status, 0);
  t.same(
    fake.commands,
    ["qom-list", "query-named-block-nodes", "query-block"],
    "the look reconcile-first took serves the decision",
  );
  t.same(s.results, [], "no result line: the change was Ganeti's");
});
