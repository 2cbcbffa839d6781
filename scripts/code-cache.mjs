// @ts-check
// Writes dist/<hook>.<build>.env.cache and .json.cache: V8's code cache after a representative run
// of each hook in each input mode (and of each operator command), so that a hook started by Ganeti does not compile its bundle
// again (src/loader/hook-loader.ts picks one; <build> is the bundle's own, scripts/bundle.mjs).
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { runtimeDocument } from "./lib/ganeti-runtime.mjs";
import { QEMU_TCG } from "./lib/qemu-args.mjs";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
/**
 * The programs' table (src/host/plugin-files.ts), as scripts/gen-hooks.mjs wrote it next to the
 * bundles: on a node, at postinst, there is no esbuild to read the TypeScript.
 * @type {{ PROGRAMS: { name: string, kind: "hook" | "launcher" | "command", cache: string }[], LAYOUT: Record<string, string> }}
 */
const { PROGRAMS, LAYOUT } = JSON.parse(readFileSync(join(root, "dist/programs.json"), "utf8"));
/** @param {{ name: string, kind: string }} p A program's executable that its runs start (the launcher's Node part). */
const exe = (p) => join(LAYOUT[p.kind] ?? "", p.kind === "launcher" ? `${p.name}-node.cjs` : p.name);
/** @param {string} cache */
const having = (cache) => PROGRAMS.filter((p) => p.cache === cache).map(exe);
// Beside the bundles, not in $TMPDIR: a node's /tmp may be noexec, and the stand-in QEMU below runs.
const scratch = mkdtempSync(join(root, "dist", ".code-cache-"));
/**
 * The runs' environment: the log to /dev/null, since these are not a node's actions (postinst runs
 * this at every install and upgrade; its "demo" instance would land in the production log).
 * @type {Record<string, string>}
 */
const env = {
  PATH: process.env["PATH"] ?? "/usr/bin:/bin",
  GQB_CODE_CACHE: "write",
  GANETI_QEMU_BLOCKDEV_LOG: "/dev/null",
  // The runs play Ganeti 3.0, whatever Ganeti this node has: under 3.1, which hot-plugs by itself,
  // disk-add would only look and find that Ganeti did not (src/host/ganeti-release.ts).
  GANETI_QEMU_BLOCKDEV_GANETI_SHARE: "/usr/share/ganeti/3.0",
};
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

/** @typedef {[string, string[], string | null, string?, Record<string, string>?]} Run */

/**
 * The hot-plug hooks' runs against a real QEMU, paused (TCG, no guest) with the example instance's
 * storage: the path they take on a node, QMP included, so that what talks to QEMU is in their
 * caches too. Each hook runs as Ganeti 3.0 runs it (the environment alone) and with 3.1's JSON.
 * Where no QEMU can be started here (a build machine without one), or not as root (the hooks'
 * lock directory must be root's), the hooks run as on a node the instance is not on.
 * @returns {Promise<{ runs: Run[], stop: () => void, paths: string[] } | undefined>}
 */
async function liveInstance() {
  const found = spawnSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8", env }).stdout.trim();
  if (!found || process.getuid?.() !== 0) return undefined;
  const live = join(scratch, "live");
  const disks = join(live, "disks");
  mkdirSync(disks, { recursive: true });
  const name = env["GANETI_INSTANCE_NAME"] ?? "demo1.example.org";
  /** @param {string} file @param {number} bytes */
  const image = (file, bytes) => {
    writeFileSync(join(live, file), "");
    truncateSync(join(live, file), bytes);
    return join(live, file);
  };
  for (const i of [0, 1, 2]) symlinkSync(image(`disk${i}.img`, 16 << 20), join(disks, `${name}:${i}`));
  const [iso1, iso2] = [image("cd1.iso", 1 << 20), image("cd2.iso", 1 << 20)];
  const livePaths = ["--disk-dir", disks, "--qmp-dir", live, "--runtime-dir", live, "--cache-dir", scratch];
  /** @type {Record<string, string>} */
  const startEnv = { ...env, GQB_CODE_CACHE: "", GANETI_HOOKS_PHASE: "pre" };
  for (const k of Object.keys(startEnv)) if (k.startsWith("GANETI_POST_")) delete startEnv[k];
  Object.assign(startEnv, {
    GANETI_INSTANCE_HV_cdrom_image_path: iso1,
    GANETI_INSTANCE_HV_floppy_image_path: "",
    GANETI_INSTANCE_HV_kvm_path: found,
  });
  const start = spawnSync(join(root, LAYOUT["hook"] ?? "", "instance-start"), livePaths, {
    env: startEnv,
    cwd: "/",
    encoding: "utf8",
  });
  if (start.status !== 0) throw new Error(`instance-start exited ${start.status}: ${start.stderr}`);
  const out = /** @type {{ argv: string[], disks: unknown[] }} */ (JSON.parse(start.stdout));
  writeFileSync(join(live, `${name}.runtime`), runtimeDocument(found, startEnv, out.disks));
  const socket = join(live, `${name}.qmp`);
  const qemu = spawn(
    found,
    [...QEMU_TCG, "-S", "-m", "64", "-machine", "pc", "-qmp", `unix:${socket},server=on,wait=off`, ...out.argv],
    {
      // The log to /dev/null as well: on a node, this QEMU may be the launcher in front of the real one.
      env,
      stdio: "ignore",
    },
  );
  const stop = () => {
    if (qemu.exitCode === null) qemu.kill("SIGKILL");
  };
  for (let i = 0; i < 200 && !existsSync(socket) && qemu.exitCode === null; i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(socket)) {
    stop();
    return undefined;
  }
  // The pre view holds disks 0–1 and the post view 0–2 (disk-add, disk-grow), or the other way round (disk-remove).
  /** @type {Record<string, string>} */
  const added = {
    ...env,
    GANETI_INSTANCE_HV_kvm_path: found,
    GANETI_POST_INSTANCE_HV_kvm_path: found,
    GANETI_DISK: "2",
    // A file disk: its path is the environment's own (a plain one would need its VG's device).
    GANETI_POST_INSTANCE_DISK2_DEV_TYPE: "file",
    GANETI_POST_INSTANCE_DISK2_ID: join(live, "disk2.img"),
  };
  for (const k of ["cdrom_image_path", "floppy_image_path"]) {
    added[`GANETI_INSTANCE_HV_${k}`] = startEnv[`GANETI_INSTANCE_HV_${k}`] ?? "";
    added[`GANETI_POST_INSTANCE_HV_${k}`] = startEnv[`GANETI_INSTANCE_HV_${k}`] ?? "";
  }
  /** @type {Record<string, string>} */
  const removed = { ...added };
  for (const [k, v] of Object.entries(added)) {
    if (!/^GANETI_(POST_)?INSTANCE_DISK/.test(k)) continue;
    const other = k.startsWith("GANETI_POST_") ? `GANETI_${k.slice(12)}` : `GANETI_POST_${k.slice(7)}`;
    removed[other] = v;
    if (added[other] === undefined) delete removed[k];
  }
  Object.assign(removed, { GANETI_INSTANCE_DISK_COUNT: "3", GANETI_POST_INSTANCE_DISK_COUNT: "2" });
  const medium = { ...added, GANETI_POST_INSTANCE_HV_cdrom_image_path: iso2 };
  const payload = JSON.stringify({
    disk: {
      uuid: "7e8f9a0b-3a3b-4c3d-8e3f-404142434445",
      dev_type: "file",
      mode: "rw",
      logical_id: ["loop", join(live, "disk2.img")],
    },
    index: 2,
  });
  const json = {
    PATH: env["PATH"] ?? "",
    GQB_CODE_CACHE: "write",
    GANETI_QEMU_BLOCKDEV_LOG: "/dev/null",
    GANETI_QEMU_BLOCKDEV_GANETI_SHARE: env["GANETI_QEMU_BLOCKDEV_GANETI_SHARE"] ?? "",
    GANETI_INSTANCE_NAME: name,
    GANETI_HOOKS_PHASE: "post",
  };
  /** @type {Run[]} */
  const runs = [
    [join(LAYOUT["hook"] ?? "", "disk-add"), livePaths, null, undefined, added],
    [join(LAYOUT["hook"] ?? "", "disk-grow"), livePaths, null, undefined, added],
    [join(LAYOUT["hook"] ?? "", "disk-remove"), livePaths, null, undefined, removed],
    [join(LAYOUT["hook"] ?? "", "cdrom-change"), livePaths, null, undefined, medium],
    [join(LAYOUT["hook"] ?? "", "disk-add"), livePaths, payload, undefined, json],
    [join(LAYOUT["hook"] ?? "", "disk-grow"), livePaths, payload, undefined, json],
    [join(LAYOUT["hook"] ?? "", "disk-remove"), livePaths, payload, undefined, json],
  ];
  return { runs, stop, paths: livePaths };
}

const live = await liveInstance().catch((e) => {
  rmSync(scratch, { recursive: true, force: true });
  throw e;
});
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
  // Each program's runs, by its cache kind in the table. The hot-plug hooks' runs against the paused
  // QEMU come as one sequence (add, grow, remove: each finds what the one before left).
  const hotplug = live?.runs ?? having("hotplug").map((e) => /** @type {Run} */ ([e, paths, null]));
  for (const e of having("hotplug")) {
    if (!hotplug.some((r) => r[0] === e)) throw new Error(`${e}: no run against the paused QEMU writes its code cache`);
  }
  /** @type {Run[]} */
  const runs = [
    ...having("start").flatMap(
      (e) =>
        /** @type {Run[]} */ ([
          [e, paths, null, "prime"],
          [e, paths, null],
          [e, paths, JSON.stringify(startRequest)],
        ]),
    ),
    ...hotplug,
    // Verifying a cluster, and the operator command: their usage (a real run needs Ganeti's ssconf, or an instance).
    ...having("help").map((e) => /** @type {Run} */ ([e, ["--help"], null])),
    // The launcher's Node part, rewriting a Ganeti-like start (its sh front needs no cache).
    ...having("launcher").map(
      (e) =>
        /** @type {Run} */ ([
          e,
          [
            "-name",
            "demo",
            "-device",
            "virtio-blk-pci,id=d0,bus=pci.0,addr=0xc,drive=d0",
            "-drive",
            "file=/nonexistent/d0,format=raw,if=none,id=d0",
          ],
          null,
        ]),
    ),
  ];
  const known = new Set(["start", "hotplug", "help", "launcher"]);
  for (const p of PROGRAMS) if (!known.has(p.cache)) throw new Error(`${p.name}: no code-cache run of kind ${p.cache}`);
  for (const [hook, args, input, prime, runEnv = env] of runs) {
    const r = spawnSync(join(root, hook), args, {
      env: prime ? { ...env, GQB_CODE_CACHE: "" } : runEnv,
      cwd: "/",
      input: input ?? undefined,
      stdio: [input === null ? "ignore" : "pipe", "pipe", "pipe"],
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`${hook} exited ${r.status} while writing its code cache: ${r.stderr}`);
    // A run against the live QEMU that changed nothing would make a cache of the wrong path.
    if (args === live?.paths && !/:done"/.test(r.stdout))
      throw new Error(`${hook} changed nothing while writing its code cache: ${r.stderr}`);
    for (const f of caches()) renameSync(join(dist, f), join(done, f));
  }
  for (const f of readdirSync(done)) renameSync(join(done, f), join(dist, f));
} finally {
  live?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
