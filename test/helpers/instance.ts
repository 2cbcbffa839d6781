import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { runtimeDocument } from "../../scripts/lib/ganeti-runtime.mjs";
import type { RuntimeDocument } from "../../src/generated/common.js";
import { type EnvVars, loadEnv, runHook } from "./hook.js";
import { namedNodes, peripheralIds } from "./inspect.js";
import { startVm, type Vm, type VmOptions } from "./qemu.js";
import { tempDir } from "./tmp.js";

export const INSTANCE = "inst1.ganeti.test";

export interface Instance {
  vm: Vm;
  base: string;
  diskDir: string;
  runtimePath: string;
  /** The guest's serial console log, when a kernel was given. */
  consoleLog: string;
  /** --disk-dir/--qmp-dir/--runtime-dir/--cache-dir pointing into this test's temp dir. */
  pathArgs: string[];
  /**
   * A fresh 8 MiB image for disk `index`, linked as Ganeti links it when it hot-plugs the disk itself
   * (`link: false`: no link, as after an add without --hotplug); returns the image path.
   */
  addImage: (index: number, bytes?: number, opts?: { link?: boolean }) => string;
  /** A recorded environment whose DISKn_ID variables name this instance's images (as Ganeti's would). */
  env: (recorded: EnvVars) => EnvVars;
  runtime: () => RuntimeDocument;
  /** Nodes and device ids right after start, to prove later that nothing was left behind. */
  baseline: { nodes: string[]; ids: string[] };
  snapshot: () => Promise<{ nodes: string[]; ids: string[] }>;
}

/**
 * The recorded instance (inst1, 2 disks) started as Ganeti would: instance-start's argv, a runtime
 * file with its disk entries and up_hvp, and QEMU on a QMP socket where the hooks look for it.
 */
export async function startInstance(t: Test, hv: Record<string, string> = {}, opts: VmOptions = {}): Promise<Instance> {
  const base = tempDir(t);
  const diskDir = join(base, "disks");
  mkdirSync(diskDir);
  const pathArgs = ["--disk-dir", diskDir, "--qmp-dir", base, "--runtime-dir", base, "--cache-dir", join(base, "cache")];
  const images = new Map<number, string>();
  const addImage = (index: number, bytes = 8 << 20, { link = true } = {}) => {
    const img = join(diskDir, `image${index}.raw`);
    writeFileSync(img, Buffer.alloc(bytes));
    if (link) symlinkSync(img, join(diskDir, `${INSTANCE}:${index}`));
    images.set(index, img);
    return img;
  };
  const withImages = (recorded: EnvVars): EnvVars => {
    const out = { ...recorded };
    for (const k of Object.keys(out)) {
      const m = /^GANETI_(?:POST_)?INSTANCE_DISK([0-9]+)_ID$/.exec(k);
      const img = m && images.get(Number(m[1]));
      if (img) out[k] = img;
    }
    return out;
  };
  const env: EnvVars = {
    ...loadEnv("ganeti-3.0.2/instance-start-pre.env"),
    GANETI_INSTANCE_HV_cdrom_image_path: "",
    GANETI_INSTANCE_HV_kvm_path: "/usr/bin/qemu-system-x86_64",
    GANETI_INSTANCE_HV_disk_cache: "default",
  };
  for (const [k, v] of Object.entries(hv)) env[`GANETI_INSTANCE_HV_${k}`] = v;
  addImage(0);
  addImage(1);
  const res = await runHook("instance-start", env, { args: pathArgs });
  if (res.code !== 0) throw new Error(`instance-start failed: ${res.stderr}`);
  const runtimePath = join(base, `${INSTANCE}.runtime`);
  writeFileSync(runtimePath, runtimeDocument("/usr/bin/qemu-system-x86_64", env, res.json.disks));
  const consoleLog = join(base, "console.log");
  const vmOpts: VmOptions = { machine: "pc", ...opts };
  if (opts.kernel) vmOpts.kernel = { ...opts.kernel, console: consoleLog };
  const vm = await startVm(t, base, INSTANCE, res.json.argv, vmOpts);
  const snapshot = async () => ({
    nodes: (await namedNodes(vm.qmp)).map((n) => n["node-name"]).sort(),
    ids: await peripheralIds(vm.qmp),
  });
  return {
    vm,
    base,
    diskDir,
    runtimePath,
    consoleLog,
    pathArgs,
    addImage,
    env: withImages,
    runtime: () => JSON.parse(readFileSync(runtimePath, "utf8")) as RuntimeDocument,
    baseline: await snapshot(),
    snapshot,
  };
}
