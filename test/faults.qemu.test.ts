// Bad luck during a hot-plug: QEMU killed mid-operation, the QMP socket held by someone else,
// a node left behind by an earlier crash. Each must end in bounded time with a clear message,
// a VM left as it was (or gone), and an intact runtime file.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer, type Socket } from "node:net";
import t from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { QmpClient } from "../src/qmp/client.js";
import { loadEnv, runHook } from "./helpers/hook.js";
import { startInstance } from "./helpers/instance.js";
import { untilServed } from "./helpers/qemu.js";
import { proxyFor } from "./helpers/qmp-proxy.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
const NEW_ID = diskDeviceId("f0647398-5c2c-4b5c-903a-76aaad150ecc");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test("QEMU killed in the middle of a hot-add", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  // An NBD server that accepts and never answers: QEMU's blockdev-add waits on it.
  const held: Socket[] = [];
  const blackhole = createServer((s) => held.push(s));
  await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    blackhole.close();
  });
  const port = (blackhole.address() as AddressInfo).port;
  const runtimeBefore = readFileSync(inst.runtimePath, "utf8");
  const payload = JSON.stringify({
    disk: { uuid: "dead0000-1111-4222-8333-444444444444", dev_type: "ext", mode: "rw", params: { access: "userspace" } },
    index: 2,
    uri: `nbd://127.0.0.1:${port}/export`,
  });
  const started = Date.now();
  const pending = runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs, stdin: payload });
  while (held.length === 0 && Date.now() - started < 10_000) await sleep(20);
  t.equal(held.length, 1, "QEMU is inside blockdev-add, talking to the NBD server");
  await inst.vm.kill();
  const res = await pending;
  t.equal(res.code, 1, "disk-add fails");
  t.same(res.json.change, ["disk/2", "hotplug:failed"]);
  t.match(res.json.error.message, /QEMU closed the connection|connection lost/, "says QEMU went away");
  t.ok(Date.now() - started < 8000, `within its timeout (${Date.now() - started} ms)`);
  t.equal(readFileSync(inst.runtimePath, "utf8"), runtimeBefore, "runtime file intact and unchanged");
});

t.test("QEMU killed while disk-remove waits for the guest", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  inst.addImage(2);
  const add = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(add.code, 0);
  const runtimeBefore = readFileSync(inst.runtimePath, "utf8");
  // The hook talks through a proxy that shows when QEMU has accepted device_del and the hook has
  // its reply, so that the hook waits for the guest (which will never answer): QEMU is killed in
  // that state, not after a guessed delay, nor while device_del's reply is still on its way.
  const { proxy, dir: proxyDir } = await proxyFor(t, inst);
  const started = Date.now();
  const args = [...inst.pathArgs, "--qmp-dir", proxyDir, "--unplug-timeout", "30"];
  const pending = runHook("disk-remove", REMOVE_ENV, { args });
  const accepted = () => proxy.answered.some((s) => s.command === "device_del");
  while (!accepted() && Date.now() - started < 10_000) await sleep(20);
  t.ok(accepted(), "QEMU accepted device_del, and the hook has its reply");
  await inst.vm.kill();
  const res = await pending;
  t.equal(res.code, 1);
  t.match(res.json.error.code, /QMP_CLOSED/);
  t.ok(Date.now() - started < 5000, `at once, not after the 30 s unplug timeout (${Date.now() - started} ms)`);
  const after = readFileSync(inst.runtimePath, "utf8");
  t.equal(after, runtimeBefore, "runtime file unchanged");
  t.doesNotThrow(() => JSON.parse(after), "and valid JSON");
});

t.test("the QMP socket held by another client: a bounded wait, then a clear failure", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  inst.addImage(2);
  const holder = await QmpClient.connect(inst.vm.hookSocket);
  t.teardown(() => holder.close());
  const started = Date.now();
  const res = await runHook("disk-add", inst.env(ADD_ENV), { args: [...inst.pathArgs, "--qmp-timeout", "1"] });
  t.equal(res.code, 1);
  t.equal(res.json.error.code, "QMP_TIMEOUT");
  t.match(res.json.error.message, /another client holding the socket/);
  t.ok(Date.now() - started < 4000, `gave up in bounded time (${Date.now() - started} ms)`);
  t.same(await inst.snapshot(), inst.baseline, "nothing changed");
  holder.close();
  await untilServed(inst.vm.hookSocket);
  const again = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(again.code, 0, "works once the other client left");
});

t.test("a node left by an earlier crash is reconciled; one in use is refused", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  const img = inst.addImage(2);
  // What a crash between blockdev-add and device_add leaves: our node, no device.
  await inst.vm.qmp.execute("blockdev-add", { driver: "raw", "node-name": NEW_ID, file: { driver: "file", filename: img } });
  const res = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(res.code, 0, `disk-add completes: ${res.stderr}`);
  t.match(res.stderr, /disk-add: reconcile: deleted block node disk-f0647398-5c2c-4b5c, which no device used/);
  t.same(res.json.change, ["disk/2", "hotplug:done"]);
  const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
  t.equal(rm.code, 0);

  // Our node name, but held by a device we did not create: refuse, touch nothing.
  await inst.vm.qmp.execute("blockdev-add", { driver: "raw", "node-name": NEW_ID, file: { driver: "file", filename: img } });
  await inst.vm.qmp.execute("device_add", { driver: "scsi-hd", id: "someone-else", drive: NEW_ID, bus: "scsi.0", "scsi-id": 9 });
  const before = await inst.snapshot();
  const res2 = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(res2.code, 1);
  t.equal(res2.json.error.code, "STALE_NODE");
  t.match(res2.json.error.message, /already exists and is in use .*nothing was changed/);
  t.same(await inst.snapshot(), before, "nothing changed");
});

t.test("a runtime file that cannot be written: reported, and the next run records the disk", async (t) => {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  inst.addImage(2);
  // An immutable directory: even root cannot create the temporary file the atomic write needs.
  execFileSync("chattr", ["+i", inst.base]);
  t.teardown(() => execFileSync("chattr", ["-i", inst.base]));
  const res = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  execFileSync("chattr", ["-i", inst.base]);
  t.equal(res.code, 1);
  t.equal(res.json.error.code, "RUNTIME_WRITE_FAILED");
  t.match(res.json.error.message, /run the hook again to record it/);
  t.equal(inst.runtime()[3].length, 2, "the runtime file is intact (old content)");
  const again = await runHook("disk-add", inst.env(ADD_ENV), { args: inst.pathArgs });
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /already attached; recording it/);
  t.equal(inst.runtime()[3].length, 3, "now recorded");
});
