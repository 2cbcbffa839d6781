// @ts-check
// Writes dist/<hook>.<build>.env.cache and .json.cache: V8's code cache after a representative run
// of each hook in each input mode (and of each operator command), so that a hook started by Ganeti does not compile its bundle
// again (src/loader/hook-loader.ts picks one; <build> is the bundle's own, scripts/bundle.mjs).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { COMMANDS } from "./lib/hooks.mjs";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
// Beside the bundles, not in $TMPDIR: a node's /tmp may be noexec, and the stand-in QEMU below runs.
const scratch = mkdtempSync(join(root, "dist", ".code-cache-"));
/**
 * The runs' environment: the log to /dev/null, since these are not a node's actions (postinst runs
 * this at every install and upgrade; its "demo" instance would land in the production log).
 * @type {Record<string, string>}
 */
const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", GQB_CODE_CACHE: "write", GANETI_QEMU_BLOCKDEV_LOG: "/dev/null" };
for (const line of readFileSync(join(root, "examples/instance.env"), "utf8").split("\n")) {
  const i = line.indexOf("=");
  if (i > 0) env[line.slice(0, i)] = line.slice(i + 1).replace(/@[A-Z]+@/, "/nonexistent/image");
}
// The post view of an instance-modify that added a disk: the hot-plug hooks parse both views.
for (const [k, v] of Object.entries(env)) if (k.startsWith("GANETI_INSTANCE_")) env[`GANETI_POST_${k.slice(7)}`] = v;
Object.assign(env, {
  GANETI_HOOKS_PHASE: "post",
  GANETI_POST_INSTANCE_DISK_COUNT: "3",
  GANETI_POST_INSTANCE_DISK2_UUID: "6c7d8e9f-2a2b-4c2d-8e2f-303132333435",
  GANETI_POST_INSTANCE_DISK2_DEV_TYPE: "plain",
  GANETI_POST_INSTANCE_DISK2_MODE: "rw",
});
const startRequest = {
  hvparams: {
    disk_type: "scsi-hd",
    disk_cache: "none",
    disk_aio: "native",
    cdrom_image_path: "/nonexistent/cd.iso",
    floppy_image_path: "/nonexistent/fd.img",
  },
  disks: [0, 1].map((i) => [
    {
      uuid: `6c7d8e9${i}-2a2b-4c2d-8e2f-303132333435`,
      dev_type: "plain",
      mode: "rw",
      size: 64,
      params: {},
      hvinfo: { driver: "scsi-hd", id: `disk-6c7d8e9${i}-2a2b-4c2d`, bus: "scsi.0", channel: 0, "scsi-id": i, lun: 0 },
    },
    `/nonexistent/demo:${i}`,
    null,
  ]),
};
const paths = ["--disk-dir", scratch, "--qmp-dir", scratch, "--runtime-dir", scratch, "--cache-dir", scratch];
// A stand-in for QEMU, so that the environment-only runs take the path Ganeti's do: QEMU's version
// from the binary, then from the plugin's version cache.
const fakeQemu = join(scratch, "qemu-system-x86_64");
writeFileSync(fakeQemu, '#!/bin/sh\necho "QEMU emulator version 7.2.0"\n', { mode: 0o755 });
writeFileSync(join(scratch, "config.json"), JSON.stringify({ qemu: fakeQemu }));
env["GANETI_QEMU_BLOCKDEV_CONFIG"] = join(scratch, "config.json");
env["GANETI_QEMU_BLOCKDEV_CACHE_DIR"] = scratch;
env["GANETI_INSTANCE_HV_kvm_path"] = fakeQemu;
env["GANETI_POST_INSTANCE_HV_kvm_path"] = fakeQemu;
try {
  // A loaded cache is carried into the one written after the run, and V8 checks a cache against
  // the bundle's length only: start from none, so that no cache ever describes an older bundle.
  const dist = join(root, "dist");
  const caches = () => readdirSync(dist).filter((f) => f.endsWith(".cache"));
  for (const f of caches()) rmSync(join(dist, f));
  // Each cache comes from one run that found no cache at all (the hooks fall back to the other
  // mode's cache, which would carry code this mode does not run): each run's output is put aside
  // until all have run. Environment only runs as Ganeti runs hooks (stdin /dev/null), after a run
  // that only fills the plugin's QEMU version cache, as a node's first start does.
  const done = join(scratch, "caches");
  mkdirSync(done);
  /** @type {[string, string[], string | null, string?][]} */
  const runs = [
    ["hooks/instance-start", paths, null, "prime"],
    ["hooks/instance-start", paths, null],
    ["hooks/instance-start", paths, JSON.stringify(startRequest)],
    ["hooks/disk-add", paths, null],
    ["hooks/disk-remove", paths, null],
    ["hooks/disk-grow", paths, null],
    ["hooks/cdrom-change", paths, null],
    // Verifying a cluster: its usage (the real run needs Ganeti's ssconf).
    ["hooks/cluster-verify", ["--help"], null],
    // The launcher's Node part, rewriting a Ganeti-like start (its sh front needs no cache).
    [
      "hooks/qemu-launcher-node.cjs",
      [
        "-name",
        "demo",
        "-device",
        "virtio-blk-pci,id=d0,bus=pci.0,addr=0xc,drive=d0",
        "-drive",
        "file=/nonexistent/d0,format=raw,if=none,id=d0",
      ],
      null,
    ],
    // The operator commands: their usage (a run that needs no instance).
    ...COMMANDS.map((c) => /** @type {[string, string[], null]} */ ([`bin/${c}`, ["--help"], null])),
  ];
  for (const [hook, args, input, prime] of runs) {
    const r = spawnSync(join(root, hook), args, {
      env: prime ? { ...env, GQB_CODE_CACHE: "" } : env,
      cwd: "/",
      input: input ?? undefined,
      stdio: [input === null ? "ignore" : "pipe", "ignore", "pipe"],
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`${hook} exited ${r.status} while writing its code cache: ${r.stderr}`);
    for (const f of caches()) renameSync(join(dist, f), join(done, f));
  }
  for (const f of readdirSync(done)) renameSync(join(done, f), join(dist, f));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
