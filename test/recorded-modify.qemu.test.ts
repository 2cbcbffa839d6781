// Every instance-modify disk environment recorded on a real Ganeti 3.0.2 cluster, run in env-only
// mode: each add/remove pair against a real QEMU (SCSI, so no guest is needed to finish the
// unplug); the offline ones where no QEMU runs; every pre phase as the no-op it must be.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { startInstance } from "./helpers/instance.js";

const PAIRS = [
  ["hotplug", "add-hotplug", "remove-hotplug"],
  ["hotplug-noguest", "add-hotplug-noguest", "remove-hotplug-failed-noguest"],
  ["hotplug-stuckguest", "add-hotplug-stuckguest", "remove-hotplug-failed-stuckguest"],
].map(([kind, add, remove]) => ({
  kind,
  add: `ganeti-3.0.2/instance-modify-disk-${add}-post.env`,
  remove: `ganeti-3.0.2/instance-modify-disk-${remove}-post.env`,
}));
const PRE = readdirSync(join(ROOT, "test/fixtures/ganeti-3.0.2")).filter((f) => /^instance-modify-disk-.*-pre\.env$/.test(f));

for (const pair of PAIRS) {
  t.test(`recorded ${pair.kind} add and remove`, async (t) => {
    const addEnv = loadEnv(pair.add);
    const removeEnv = loadEnv(pair.remove);
    const uuid = addEnv["GANETI_POST_INSTANCE_DISK2_UUID"] as string;
    t.equal(removeEnv["GANETI_INSTANCE_DISK2_UUID"], uuid, "the pair adds and removes the same disk");
    const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "lsi" });
    inst.addImage(2);
    const add = await runHook("disk-add", inst.env(addEnv), { args: inst.pathArgs });
    t.equal(add.code, 0, `${pair.add}: ${add.stderr}`);
    t.same(add.json.change, ["disk/2", "hotplug:done"]);
    t.ok((await inst.snapshot()).ids.includes(diskDeviceId(uuid)), "attached");
    const rm = await runHook("disk-remove", removeEnv, { args: inst.pathArgs });
    t.equal(rm.code, 0, `${pair.remove}: ${rm.stderr}`);
    t.same(rm.json.change, ["disk/2", "hotplug:done"], "done where Ganeti 3.0.2 reported failed (for SCSI)");
    t.same(await inst.snapshot(), inst.baseline, "nothing left behind");
  });
}

t.test("recorded offline changes and every pre phase: exit 0, nothing sent", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "lsi" });
  for (const [hook, file] of [
    ["disk-add", "instance-modify-disk-add-offline-post.env"],
    ["disk-remove", "instance-modify-disk-remove-offline-post.env"],
  ] as const) {
    // Offline: the instance is down, so the node has no QMP socket for it.
    const res = await runHook(hook, loadEnv(`ganeti-3.0.2/${file}`), {
      args: [...inst.pathArgs, "--qmp-dir", join(inst.base, "none")],
    });
    t.equal(res.code, 0, file);
    t.match(res.stderr, /does not run on this node/);
  }
  t.equal(PRE.length, 8, "eight recorded pre phases");
  for (const file of PRE) {
    for (const hook of ["disk-add", "disk-remove"]) {
      const res = await runHook(hook, loadEnv(`ganeti-3.0.2/${file}`), { args: inst.pathArgs });
      t.equal(res.code, 0, `${hook} with ${file}`);
      t.match(res.stderr, /post phase only/);
    }
  }
  t.same(await inst.snapshot(), inst.baseline, "nothing changed on the VM");
});
