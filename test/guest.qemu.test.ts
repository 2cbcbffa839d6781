// virtio-blk hot-plug with a real Linux guest: QEMU 7.2 on `pc` waits for the guest's ACPI
// hot-plug driver to release a PCI device, so only a running guest completes the unplug.
import { writeFileSync } from "node:fs";
import t from "tap";
import { guestFiles, guestKernel, waitConsole } from "../lab/guest.js";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { loadEnv, runHook } from "./helpers/hook.js";
import { startInstance } from "./helpers/instance.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
const NEW_ID = diskDeviceId("f0647398-5c2c-4b5c-903a-76aaad150ecc");
t.comment(`guest kernel: ${guestKernel()}`);

t.test("virtio-blk: the guest sees the disk and the host's data appear, then the disk disappear", async (t) => {
  const guest = guestFiles();
  const inst = await startInstance(
    t,
    { disk_type: "paravirtual" },
    { running: true, memory: 256, kernel: { ...guest, append: "console=ttyS0 panic=-1 quiet", console: "" } },
  );
  const boot = await waitConsole(inst.consoleLog, /GUEST: BOOT-OK/, 90_000);
  t.pass("guest booted");
  // A report written to the console can be split by a kernel message (a hot-plugged PCI function
  // does that), and the host then cannot read it; a record of the kernel's log is printed whole.
  t.match(boot.match.input, /^\[\s*\d+\.\d+\] GUEST: BOOT-OK$/, "the guest reports as records of the kernel's log");

  const img = inst.addImage(2);
  writeFileSync(img, Buffer.from("HELLO-FROM-HOST!"), { flag: "r+" });
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0, `disk-add exits 0: ${add.stderr}`);
  t.same(add.json.change, ["disk/2", "hotplug:done"]);
  const seen = await waitConsole(inst.consoleLog, /GUEST: add (vd[a-z]) data=(\S*)/, 30_000, boot.end);
  t.equal(seen.match[2], "HELLO-FROM-HOST!", `the guest reads the host's bytes from /dev/${seen.match[1]}`);

  const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
  t.equal(rm.code, 0, `disk-remove exits 0 once the guest released it: ${rm.stderr}`);
  t.same(rm.json.change, ["disk/2", "hotplug:done"]);
  await waitConsole(inst.consoleLog, new RegExp(`GUEST: remove ${seen.match[1]}`), 10_000, seen.end);
  t.pass(`the guest saw ${seen.match[1]} go`);
  t.same(await inst.snapshot(), inst.baseline, "no block node or device left behind");
  t.equal(inst.runtime()[3].length, 2, "runtime file back to two disks");
  t.notOk((await inst.snapshot()).ids.includes(NEW_ID));
});
