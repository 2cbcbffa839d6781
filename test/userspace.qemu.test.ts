// Userspace storage (disk param access=userspace, URI in Ganeti's JSON) against a real QEMU 7.2:
// NBD end to end with qemu-nbd; rbd, gluster and iscsi as far as this machine allows, i.e. QEMU
// parses every option we give and fails only where it tries to reach the storage. Where this
// node's QEMU lacks the driver (Debian's 11.1 and gluster), the start is refused before QEMU.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { loadEnv, runHook } from "./helpers/hook.js";
import { namedNodes, qemuIo } from "./helpers/inspect.js";
import { qemuRefuses, startVm } from "./helpers/qemu.js";
import { tempDir } from "./helpers/tmp.js";

const ENV = loadEnv("ganeti-3.0.2/instance-start-pre.env");
const UUID = "0c0ffee0-1234-4abc-8def-000000000000";
const ID = "disk-0c0ffee0-1234-4abc";

function request(devType: string, uri: string) {
  return JSON.stringify({
    disks: [
      [
        { uuid: UUID, dev_type: devType, mode: "rw", params: { access: "userspace" } },
        "/var/run/ganeti/instance-disks/inst1:0",
        uri,
      ],
    ],
    hvparams: { disk_type: "paravirtual", disk_cache: "none", cdrom_image_path: "" },
    qemu: { version: "7.2.22" },
  });
}

t.test("nbd+unix: a disk served by qemu-nbd, written by QEMU", async (t) => {
  const dir = tempDir(t);
  const img = join(dir, "export.raw");
  writeFileSync(img, Buffer.alloc(4 << 20));
  const sock = join(dir, "nbd.sock");
  const nbd: ChildProcess = spawn("qemu-nbd", ["--persistent", "--format=raw", "--export-name=exp1", `--socket=${sock}`, img], {
    stdio: "ignore",
  });
  t.teardown(() => {
    nbd.kill("SIGKILL");
  });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
  const res = await runHook("instance-start", ENV, {
    args: ["--cache-dir", join(dir, "cache")],
    stdin: request("ext", `nbd+unix:///exp1?socket=${sock}`),
  });
  t.equal(res.code, 0, res.stderr);
  t.match(res.stderr, /replaced by none for shared storage|^$/, "at most the shared-storage note");
  const vm = await startVm(t, dir, "inst1", res.json.argv);
  const nodes = await namedNodes(vm.qmp);
  t.equal(nodes.find((n) => n["node-name"] === `${ID}-file`)?.drv, "nbd", "protocol node is nbd");
  await qemuIo(vm.qmp, ID, "write -P 0x5a 0 64k");
  await qemuIo(vm.qmp, ID, "flush");
  t.ok(
    readFileSync(img)
      .subarray(0, 65536)
      .every((b) => b === 0x5a),
    "the guest's writes reach the export",
  );
});

const unreachable: [string, string, string, RegExp][] = [
  ["rbd with a user", "rbd", "rbd:ganeti/img-1:id=admin", /error connecting: No such file or directory/],
  [
    "gluster with its server list",
    "gluster",
    "gluster://127.0.0.1:24007/vol/dir/image",
    /Gluster connection for volume vol, path dir\/image failed to connect/,
  ],
  ["iscsi", "ext", "iscsi://127.0.0.1:3260/iqn.2001-04.com.example:storage/1", /iSCSI: Failed to connect to LUN/],
];
/** Where Debian's QEMU loads its block modules: Debian's QEMU 11.1 has no gluster module. */
const hasModule = (driver: string) => existsSync(`/usr/lib/x86_64-linux-gnu/qemu/block-${driver}.so`);
for (const [name, devType, uri, qemuSays] of unreachable) {
  t.test(`${name}: QEMU takes every option and fails only on connecting`, async (t) => {
    const dir = tempDir(t);
    const res = await runHook("instance-start", ENV, { args: ["--cache-dir", join(dir, "cache")], stdin: request(devType, uri) });
    const driver = uri.split(":")[0] as string;
    if (!hasModule(driver)) {
      t.equal(res.code, 1, `this QEMU has no ${driver} driver: the start is refused before QEMU`);
      t.match(
        res.stderr,
        new RegExp(
          `^instance-start: error \\[QEMU_MODULE_MISSING\\]: instance \\S+: ${ID} needs QEMU's ${driver} driver, .*no block-${driver}\\.so`,
        ),
        "in one line naming the disk and the driver",
      );
      t.equal(res.stdout, "", "no arguments printed");
      return;
    }
    t.equal(res.code, 0, res.stderr);
    const err = await qemuRefuses(t, dir, res.json.argv);
    t.match(err, qemuSays, "QEMU got as far as the storage");
    t.notMatch(err, /Parameter '.*' (is missing|unexpected)|Invalid parameter|does not accept value/, "no option was refused");
  });
}
