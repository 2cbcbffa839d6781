// The plugin's log: Ganeti discards the output of a hook that succeeds, so each action leaves one
// line (instance, disk, result, duration) in GANETI_QEMU_BLOCKDEV_LOG, /var/log/ganeti/qemu-blockdev.log
// by default. Against real QEMU: a hot-add, a hot-remove, a refusal and a reconcile step.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { INSTANCE, startInstance } from "./helpers/instance.js";
import { run } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
const LINE = (program: string, rest: string) => new RegExp(`^\\S+Z ${program}\\[\\d+\\]: ${rest}$`, "m");

t.test("each hot-plug action, refusal and reconcile step is one line of the log", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  inst.addImage(2);
  const log = join(tempDir(t), "qemu-blockdev.log");
  const logged = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
  const env = { GANETI_QEMU_BLOCKDEV_LOG: log };

  t.equal((await runHook("disk-add", { ...inst.env(ADD_ENV), ...env }, { args: inst.pathArgs })).code, 0);
  t.match(logged(), LINE("disk-add", `${INSTANCE} disk/2 hotplug:done \\(\\d+ ms\\)`), "the hot-add, with its duration");

  t.equal((await runHook("disk-remove", { ...REMOVE_ENV, ...env }, { args: inst.pathArgs })).code, 0);
  t.match(logged(), LINE("disk-remove", `${INSTANCE} disk/2 hotplug:done \\(\\d+ ms\\)`), "the hot-remove");

  const bad = await runHook(
    "disk-add",
    { ...inst.env(ADD_ENV), GANETI_POST_INSTANCE_DISK_COUNT: "x", ...env },
    { args: inst.pathArgs },
  );
  t.equal(bad.code, 2);
  t.match(
    logged(),
    LINE("disk-add", "refused \\[INVALID_ENV\\] GANETI_POST_INSTANCE_DISK_COUNT: .*"),
    "a refusal, with its code",
  );

  // A node no device uses, as Ganeti's own hot-remove leaves it: the reconcile command deletes it.
  await inst.vm.qmp.execute("blockdev-add", {
    driver: "raw",
    "node-name": "disk-0123abcd-0000-4000",
    file: { driver: "file", filename: inst.addImage(3) },
  });
  const reconcile = await run(join(ROOT, "bin/ganeti-qemu-blockdev"), ["reconcile", ...inst.pathArgs, INSTANCE], env);
  t.equal(reconcile.code, 0, String(reconcile.stderr));
  t.match(logged(), LINE("ganeti-qemu-blockdev", `${INSTANCE} reconcile: .*disk-0123abcd-0000-4000.*`), "a reconcile step");
  t.equal(logged().split("\n").filter(Boolean).length, 4, "one line each, nothing else");
});
