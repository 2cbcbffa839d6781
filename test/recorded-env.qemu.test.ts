// Every instance-start environment recorded on a real Ganeti 3.0.2 cluster, run in env-only mode
// (stdin /dev/null, as Ganeti runs hooks), gives argv a real QEMU accepts. Only the node's paths
// are substituted: disk images, the CD image and the QEMU binary.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { peripheralIds } from "./helpers/inspect.js";
import { startVm } from "./helpers/qemu.js";
import { tempDir } from "./helpers/tmp.js";

const QEMU_PATH = execFileSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8" }).trim();
const files = readdirSync(join(ROOT, "test/fixtures/ganeti-3.0.2")).filter((f) => /^instance-start.*\.env$/.test(f));

t.ok(files.length >= 8, `${files.length} recorded instance-start environments`);
for (const file of files) {
  t.test(file, async (t) => {
    const env = loadEnv(`ganeti-3.0.2/${file}`);
    const base = tempDir(t);
    const diskDir = join(base, "disks");
    mkdirSync(diskDir);
    const name = env["GANETI_INSTANCE_NAME"] as string;
    const count = Number(env["GANETI_POST_INSTANCE_DISK_COUNT"] ?? env["GANETI_INSTANCE_DISK_COUNT"]);
    for (let i = 0; i < count; i++) {
      writeFileSync(join(diskDir, `img${i}`), Buffer.alloc(1 << 20));
      symlinkSync(join(diskDir, `img${i}`), join(diskDir, `${name}:${i}`));
    }
    const iso = join(base, "empty.iso");
    writeFileSync(iso, Buffer.alloc(1 << 20));
    for (const prefix of ["GANETI_INSTANCE_HV_", "GANETI_POST_INSTANCE_HV_"]) {
      if (env[`${prefix}cdrom_image_path`]) env[`${prefix}cdrom_image_path`] = iso;
      if (env[`${prefix}kvm_path`]) env[`${prefix}kvm_path`] = QEMU_PATH;
    }
    const res = await runHook("instance-start", env, { args: ["--disk-dir", diskDir, "--cache-dir", join(base, "cache")] });
    t.equal(res.code, 0, `hook accepts the recorded environment: ${res.stderr}`);
    t.equal(res.json.disks.length, count, "one runtime entry per disk");
    const vm = await startVm(t, base, name, res.json.argv);
    const ids = await peripheralIds(vm.qmp);
    for (const entry of res.json.disks) t.ok(ids.includes(entry[0].hvinfo.id), `QEMU has ${entry[0].hvinfo.id}`);
    t.equal(ids.includes("cdrom1"), Boolean(env["GANETI_INSTANCE_HV_cdrom_image_path"]), "the CD-ROM iff one is configured");
  });
}
