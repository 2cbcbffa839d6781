// A hot-plug hook run in-process against the scripted QMP server (helpers/qmp-fake.ts): the
// instance's paths in a scratch directory, its runtime file, and what the driver says, as values.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { readHookEnv } from "../../src/ganeti/env.js";
import type { NodePaths } from "../../src/ganeti/paths.js";
import type { RuntimeDocument } from "../../src/generated/common.js";
import type { HotplugInput } from "../../src/generated/hotplug-input.js";
import type { HotplugOutput } from "../../src/generated/hotplug-output.js";
import { GANETI_SHARE_VARIABLE } from "../../src/host/ganeti-release.js";
import type { Reporter, runOperation } from "../../src/hotplug/driver.js";
import { loadEnv, ROOT } from "./hook.js";
import type { Script } from "./qmp-fake.js";
import { tempDir } from "./tmp.js";

export const NAME = "inst1.ganeti.test";
/** The recorded environments come from Ganeti 3.0.2, whatever Ganeti this host has (3.1 hot-plugs itself). */
export function asGaneti30(): void {
  process.env[GANETI_SHARE_VARIABLE] = "/usr/share/ganeti/3.0";
}
export const fixture = (f: string) =>
  JSON.parse(readFileSync(join(ROOT, "test/fixtures/ganeti-3.0.2/extra", f), "utf8")) as RuntimeDocument;
/** Ganeti 3.0's runtime file with disks 0–2 (virtio-blk), disk 2 hot-added. */
export const WITH_HOT = fixture("kvm-runtime.after-disk-add-hotplug.json");
export const HOT = "disk-f0647398-5c2c-4b5c";
export const IDS = ["disk-077af63e-1010-4f10", "disk-10aa34ab-09b5-44dc"];

/** The VM as QEMU shows it: virtio-blk devices with their nodes, and query-block's view of them. */
export function vm(ids: string[]): Script {
  return {
    "qom-list": { return: ids.map((id) => ({ name: id, type: "child<virtio-blk-pci>" })) },
    "query-named-block-nodes": { return: ids.map((id) => ({ "node-name": id })) },
    "query-block": {
      return: ids.map((id) => ({
        device: "",
        qdev: `/machine/peripheral/${id}/virtio-backend`,
        inserted: { "node-name": id, ro: false },
      })),
    },
  };
}

export interface Scene {
  paths: NodePaths;
  runtimePath: string;
  said: string[];
  results: HotplugOutput[];
  logged: string[];
  out: Reporter;
  run: (env: Record<string, string>, input?: HotplugInput) => Parameters<typeof runOperation>[1];
}

export function scene(t: Test, runtime: RuntimeDocument): Scene {
  const dir = tempDir(t);
  const paths = {
    diskDir: join(dir, "disks"),
    qmpDir: join(dir, "qmp"),
    runtimeDir: join(dir, "run"),
    cacheDir: join(dir, "cache"),
  };
  for (const d of Object.values(paths)) mkdirSync(d, { recursive: true });
  const runtimePath = join(paths.runtimeDir, `${NAME}.runtime`);
  writeFileSync(runtimePath, JSON.stringify(runtime));
  const s: Scene = {
    paths,
    runtimePath,
    said: [],
    results: [],
    logged: [],
    out: {
      say: (kind, m) => s.said.push(`${kind}: ${m}`),
      result: (r) => s.results.push(r),
      log: (l) => s.logged.push(l),
    },
    run: (env, input) => ({ env: readHookEnv(env), input, paths, timeouts: () => ({ qmp: 500, lock: 300, unplug: 200 }) }),
  };
  return s;
}

export const socket = (s: Scene) => join(s.paths.qmpDir, `${NAME}.qmp`);
export const runtimeDisks = (s: Scene) =>
  (JSON.parse(readFileSync(s.runtimePath, "utf8")) as RuntimeDocument)[3].map((e) => e[0].uuid);
export const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
