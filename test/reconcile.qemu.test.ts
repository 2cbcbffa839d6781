// Pending work finished without the old environment (issue: Ganeti's hot-remove leaves -blockdev
// nodes; unplugs complete after disk-remove stopped waiting): every disk-add/disk-remove run
// reconciles first, and an operator command does the same from the instance's name alone.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { INSTANCE, startInstance } from "./helpers/instance.js";
import { run } from "./helpers/launcher.js";
import { deleteDevice, openFiles, resetCompletingUnplug } from "./helpers/qemu.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
const NEW_ID = diskDeviceId(ADD_ENV["GANETI_POST_INSTANCE_DISK2_UUID"] as string);
const COMMAND = join(ROOT, "bin/ganeti-qemu-blockdev");
const RECONCILE = (args: string[]) => run(COMMAND, ["reconcile", ...args]);

/** What Ganeti 3.0's HotDelDevice does: QMP device_del, then at once HMP drive_del, whose answer it ignores. */
async function ganetiHotRemove(qmp: import("../src/qmp/client.js").QmpClient, id: string): Promise<string> {
  const gone = qmp.listen({ names: ["DEVICE_DELETED"], data: { device: id } });
  await qmp.execute("device_del", { id });
  const answer = await qmp.execute<string>("human-monitor-command", { "command-line": `drive_del ${id}` });
  await gone.next(5000);
  gone.close();
  return answer;
}

t.test("Ganeti's own --hotplug remove of a -blockdev disk: the next hook deletes the node it left", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const img = inst.addImage(2);
  t.equal((await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs })).code, 0);
  const answer = await ganetiHotRemove(inst.vm.qmp, NEW_ID);
  if (!/in use/.test(answer)) {
    // QEMU 11.1's drive_del deletes a -blockdev node once its device is gone: nothing is left.
    t.comment(`this QEMU's drive_del took the node (${answer.trim() || "no error"}): Ganeti's own remove leaves nothing`);
    t.notOk((await inst.snapshot()).nodes.includes(NEW_ID), "no node left behind");
    t.notOk(
      openFiles(inst.vm.pid).some((f) => f.target === img),
      "no fd on the image",
    );
    const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
    t.equal(rm.code, 0, rm.stderr);
    t.notMatch(rm.stderr, /deleted block node/, "the hook has no node to delete");
    t.same(await inst.snapshot(), inst.baseline, "the VM is as it was at start");
    t.equal(inst.runtime()[3].length, 2, "the runtime file lists the two disks Ganeti has");
    return;
  }
  t.match(answer, /is in use|in use/, `drive_del fails as it does under Ganeti: ${answer.trim()}`);
  t.ok((await inst.snapshot()).nodes.includes(NEW_ID), "the node is left behind");
  t.ok(
    openFiles(inst.vm.pid).some((f) => f.target === img),
    "with an open fd on the image",
  );

  const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
  t.equal(rm.code, 0, rm.stderr);
  t.match(
    rm.stderr,
    new RegExp(`^disk-remove: reconcile: deleted block node ${NEW_ID}, which no device used$`, "m"),
    "reported on its own line",
  );
  t.same(await inst.snapshot(), inst.baseline, "no node left");
  t.notOk(
    openFiles(inst.vm.pid).some((f) => f.target === img),
    "no fd left on the image",
  );
  t.equal(inst.runtime()[3].length, 2, "the runtime file lists the two disks Ganeti has");
});

t.test(
  "an unplug the guest completes after disk-remove gave up: the operator command finishes it from the name alone",
  async (t) => {
    const inst = await startInstance(t, { disk_type: "paravirtual" });
    inst.addImage(2);
    t.equal((await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs })).code, 0);
    const rm = await runHook("disk-remove", REMOVE_ENV, { args: [...inst.pathArgs, "--unplug-timeout", "0.5"] });
    t.equal(rm.json.error.code, "UNPLUG_TIMEOUT");
    t.match(rm.json.error.message, `'ganeti-qemu-blockdev reconcile ${INSTANCE}' on this node`, "the message names the command");
    await resetCompletingUnplug(inst.vm.qmp, NEW_ID); // as a late guest ack would
    t.ok((await inst.snapshot()).nodes.includes(NEW_ID), "the device went, its node stayed");
    t.equal(inst.runtime()[3].length, 3, "and the runtime still lists the disk");

    const args = [INSTANCE, ...inst.pathArgs];
    const first = await RECONCILE(args);
    t.equal(first.code, 0, first.stderr.toString());
    t.same(
      first.stdout.toString().trim().split("\n"),
      [
        `deleted block node ${NEW_ID}, which no device used`,
        `dropped the runtime entry of disk ${ADD_ENV["GANETI_POST_INSTANCE_DISK2_UUID"]} (${NEW_ID}), which QEMU no longer has`,
      ],
      "one line per action",
    );
    t.same(await inst.snapshot(), inst.baseline, "QEMU is clean");
    t.equal(inst.runtime()[3].length, 2, "the runtime file matches QEMU again");
    const again = await RECONCILE(args);
    t.equal(again.stdout.toString(), `${INSTANCE}: nothing to reconcile\n`, "a second run has nothing to do");
    const elsewhere = await RECONCILE([INSTANCE, "--qmp-dir", join(inst.base, "none")]);
    t.equal(elsewhere.code, 1, "not running here: exit 1");
    t.match(elsewhere.stderr.toString(), /does not run on this node/);
    const bad = await RECONCILE(["two", "names"]);
    t.equal(bad.code, 2, "invalid arguments: exit 2");
    // The instance-name rule of Ganeti's environment (schemas/common.schema.json), not one of its own.
    for (const name of ["inst_1.example.org", "-inst1", "inst1..example.org", `${"a".repeat(64)}.example.org`]) {
      const refused = await RECONCILE([name]);
      t.equal(refused.code, 2, `${name}: not a host name, exit 2`);
      t.match(refused.stderr.toString(), /BAD_ARGUMENT.*INSTANCE/, "naming the operand");
    }
  },
);

t.test("any modify reconciles; the runtime file follows QEMU, and IDE entries, which QEMU cannot name, stay", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const img = inst.addImage(2);
  await inst.vm.qmp.execute("blockdev-add", { driver: "raw", "node-name": NEW_ID, file: { driver: "file", filename: img } });
  // Disk 0's device removed behind Ganeti's back, and an IDE disk in the runtime file.
  const doc = inst.runtime();
  const disk0 = doc[3][0]?.[0].hvinfo?.id as string;
  await deleteDevice(inst.vm.qmp, disk0);
  doc[3].push([
    {
      uuid: "1de00000-0000-4000-8000-000000000000",
      dev_type: "file",
      hvinfo: { driver: "ide", id: "disk-1de00000-0000-4000", bus: "pci.0", addr: "0x1f" },
    },
    "/x",
    null,
  ]);
  writeFileSync(inst.runtimePath, JSON.stringify(doc));
  // An hvparams-only modify: both views list the same disks.
  const same: Record<string, string> = {
    ...loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-pre.env"),
    GANETI_HOOKS_PHASE: "post",
  };
  for (const [k, v] of Object.entries(same)) if (k.startsWith("GANETI_INSTANCE_")) same[`GANETI_POST_${k.slice(7)}`] = v;
  const res = await runHook("disk-add", same, { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  t.match(res.stderr, `disk-add: reconcile: deleted block node ${NEW_ID}, which no device used`);
  t.match(res.stderr, /no disk was added/);
  t.match(res.stderr, `disk-add: reconcile: dropped the runtime entry of disk ${doc[3][0]?.[0].uuid} (${disk0})`);
  const after = JSON.parse(readFileSync(inst.runtimePath, "utf8")) as typeof doc;
  t.same(
    after[3].map((e) => e[0].hvinfo?.id),
    [doc[3][1]?.[0].hvinfo?.id, "disk-1de00000-0000-4000"],
    "disk 0's entry is dropped; disk 1 and the IDE disk stay",
  );
});
