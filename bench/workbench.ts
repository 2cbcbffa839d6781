// The bench's workbench: what every figure uses. A scratch directory, the example instance (4 disks,
// 2 CD-ROMs and a floppy) with its hook environment and images, the QEMU, the way a hook is timed
// as Ganeti spawns it, and the table's rows. Made by workbench() when the bench runs, never at
// import: figure 12b's child process imports the same bundle and must start bare.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type Row, stats } from "./report.js";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wall time of one process from spawn to exit, in ms; rejects on a non-zero exit. */
export function timed(cmd: string, args: string[], env: Record<string, string>, stdinFile?: string): Promise<number> {
  const stdin = stdinFile ? openSync(stdinFile, "r") : "ignore";
  const t0 = performance.now();
  return new Promise((ok, fail) => {
    // Pipes for stdout and stderr, as Ganeti's hook runner gives them.
    const p = spawn(cmd, args, { env, cwd: "/", stdio: [stdin, "pipe", "pipe"] });
    p.stdout?.resume();
    let err = "";
    p.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    p.on("exit", (code) => {
      const ms = performance.now() - t0;
      if (typeof stdin === "number") closeSync(stdin);
      if (code === 0) ok(ms);
      else fail(new Error(`${cmd} exited ${code}: ${err.trim()}`));
    });
  });
}

/** Peak RSS in KiB (GNU time's %M). */
export function peakRss(cmd: string, args: string[], env: Record<string, string>, stdinFile?: string): number {
  const r = spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...args], {
    env,
    cwd: "/",
    input: stdinFile ? readFileSync(stdinFile) : "",
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}: ${r.stderr.trim()}`);
  return Number(r.stderr.trim().split("\n").at(-1));
}

export async function waitFile(p: string) {
  for (let i = 0; i < 400 && !existsSync(p); i++) await sleep(25);
}

/** Each sample's own work over its baseline from the same iteration. */
export function ownWork(runs: number[], baselines: number[]): number[] {
  return runs.map((r, i) => r - (baselines[i] as number));
}

/** A figure as a delta over instance-start measured in the same loop, against a budget in ms. */
export function deltaRow(rows: Row[], figure: string, runs: number[], starts: number[], budgetMs: number) {
  const own = stats(ownWork(runs, starts)).median;
  rows.push({
    figure,
    ...stats(runs),
    baseline: `instance-start ${stats(starts).median.toFixed(1)} ms (same loop)`,
    budget: `≤ +${budgetMs} ms (+${own.toFixed(1)})`,
    pass: own <= budgetMs,
  });
}

export type Bench = ReturnType<typeof workbench>;

/** Sets the bench up; QEMUs started by figures go into `procs`, killed with the directory at exit. */
export function workbench(root: string) {
  const dir = mkdtempSync(join(tmpdir(), "gqb-bench-"));
  const procs: ChildProcess[] = [];
  process.on("exit", () => {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));

  const N = Number(process.env["BENCH_RUNS"] ?? 30);
  // Figure 1 is a ratio of two ~20 ms figures against a 15 % budget, and a run costs little: more runs.
  const STARTUP_N = Number(process.env["BENCH_STARTUP_RUNS"] ?? 120);
  // Figure 4 boots a guest and lets it probe each added disk (1.5 s): 20 runs of the hook and 20 of its floor.
  const GUEST_N = Number(process.env["BENCH_GUEST_RUNS"] ?? 20);
  const qemuPath = execFileSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8" }).trim();
  const nodePath = process.execPath;
  const hook = (name: string) => join(root, "hooks", name);
  // Ganeti runs hooks with PATH=/sbin:/bin:/usr/sbin:/usr/bin; node is looked up there (here first, if elsewhere).
  // The plugin's log goes to the bench's own directory, not the host's /var/log/ganeti.
  const baseEnv = {
    PATH: `${dirname(process.execPath)}:/sbin:/bin:/usr/sbin:/usr/bin`,
    GANETI_QEMU_BLOCKDEV_LOG: join(dir, "qemu-blockdev.log"),
  };

  // ---- an instance with 4 disks, 2 CD-ROMs and a floppy ----------------------------------------
  const INSTANCE = "bench1.example.org";
  const diskDir = join(dir, "disks");
  mkdirSync(diskDir);
  const img = (name: string, bytes: number) => {
    const p = join(dir, name);
    writeFileSync(p, Buffer.alloc(bytes));
    return p;
  };
  const uuid = (i: number) => `b00000${String(i).padStart(2, "0")}-0000-4000-8000-000000000000`;
  const startEnv: Record<string, string> = {
    ...baseEnv,
    GANETI_HOOKS_VERSION: "2",
    GANETI_HOOKS_PHASE: "pre",
    GANETI_HOOKS_PATH: "instance-start",
    GANETI_OP_CODE: "OP_INSTANCE_STARTUP",
    GANETI_INSTANCE_NAME: INSTANCE,
    GANETI_INSTANCE_DISK_COUNT: "4",
    GANETI_INSTANCE_HV_disk_type: "scsi-hd",
    GANETI_INSTANCE_HV_scsi_controller_type: "virtio-scsi-pci",
    GANETI_INSTANCE_HV_disk_cache: "none",
    GANETI_INSTANCE_HV_disk_aio: "native",
    GANETI_INSTANCE_HV_disk_discard: "unmap",
    GANETI_INSTANCE_HV_cdrom_image_path: img("cd1.iso", 1 << 20),
    GANETI_INSTANCE_HV_cdrom2_image_path: img("cd2.iso", 1 << 20),
    GANETI_INSTANCE_HV_floppy_image_path: img("floppy.img", 1474560),
    GANETI_INSTANCE_HV_boot_order: "disk",
    GANETI_INSTANCE_HV_kernel_path: "",
    GANETI_INSTANCE_HV_kvm_path: qemuPath,
  };
  for (let i = 0; i < 4; i++) {
    Object.assign(startEnv, {
      [`GANETI_INSTANCE_DISK${i}_UUID`]: uuid(i),
      [`GANETI_INSTANCE_DISK${i}_DEV_TYPE`]: "plain",
      [`GANETI_INSTANCE_DISK${i}_MODE`]: "rw",
      [`GANETI_INSTANCE_DISK${i}_SIZE`]: "16",
    });
    symlinkSync(img(`disk${i}.img`, 16 << 20), join(diskDir, `${INSTANCE}:${i}`));
  }
  const paths = ["--disk-dir", diskDir, "--qmp-dir", dir, "--runtime-dir", dir, "--cache-dir", join(dir, "cache")];
  const startJson = join(dir, "start.json");

  const rows: Row[] = [];
  return {
    root,
    dir,
    procs,
    N,
    STARTUP_N,
    GUEST_N,
    qemuPath,
    nodePath,
    hook,
    baseEnv,
    INSTANCE,
    diskDir,
    img,
    uuid,
    startEnv,
    paths,
    startJson,
    rows,
    hotplugRss: { add: [] as number[], remove: [] as number[] },
    /** The day's speed: bare `node -e ''`, from figure 1's loop; printed with the table. */
    bareNodeMs: 0,
  };
}
