import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { REAL_QEMU } from "../../scripts/lib/qemu-args.mjs";
import { QmpClient } from "../../src/qmp/client.js";
import { ROOT } from "./hook.js";

export { REAL_QEMU };

export const LAUNCHER = join(ROOT, "hooks/qemu-launcher");
export const INSTANCE = "inst1.ganeti.test";
export interface Run {
  code: number | null;
  /** The signal that ended it, if one did. */
  signal?: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Runs a program as Ganeti runs kvm_path: its own environment (PATH plus ours), stdin /dev/null, cwd /. */
export function run(cmd: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: "/",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", GANETI_QEMU_BLOCKDEV_LOG: "/dev/null", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  });
}

/** A config file and cache dir of this test's own, named to the launcher by the variables tests may use. */
export function launcherEnv(dir: string, config: object | null = { qemu: REAL_QEMU }): Record<string, string> {
  const file = join(dir, "config.json");
  if (config !== null) writeFileSync(file, JSON.stringify(config));
  return { GANETI_QEMU_BLOCKDEV_CONFIG: file, GANETI_QEMU_BLOCKDEV_CACHE_DIR: dir };
}

/** One node's Ganeti directories inside a test dir: pid files, logs, sockets, disk links. */
export interface Node {
  dir: string;
  pidfile: string;
  qmp: string;
  disks: string;
}

export function node(dir: string): Node {
  for (const d of ["pid", "log", "ctrl", "disks"]) mkdirSync(join(dir, d), { recursive: true });
  return {
    dir,
    pidfile: join(dir, "pid", INSTANCE),
    qmp: join(dir, "ctrl", `${INSTANCE}.qmp`),
    disks: join(dir, "disks"),
  };
}

/** Raw images for disks 0..n-1 and an ISO in `dir`, linked into a node's disk dir as Ganeti links them. */
export function images(dir: string, n: number): { disks: string[]; iso: string; floppy: string } {
  const disks = Array.from({ length: n }, (_, i) => {
    const img = join(dir, `disk${i}.img`);
    if (!existsSync(img)) writeFileSync(img, Buffer.alloc(8 << 20));
    return img;
  });
  const iso = join(dir, "empty.iso");
  if (!existsSync(iso)) writeFileSync(iso, Buffer.alloc(1 << 20));
  const floppy = join(dir, "floppy.img");
  if (!existsSync(floppy)) writeFileSync(floppy, Buffer.alloc(1440 << 10));
  return { disks, iso, floppy };
}

export function linkDisks(n: Node, disks: readonly string[]): void {
  disks.forEach((img, i) => {
    symlinkSync(img, join(n.disks, `${INSTANCE}:${i}`));
  });
}

/**
 * A command line recorded from Ganeti 3.0.2 (test/fixtures/ganeti-3.0.2/extra/kvm-cmdline.*.txt),
 * without argv[0], with Ganeti's directories moved into a node of this test.
 */
export function recordedArgv(name: string, n: Node, files: { iso: string; floppy?: string }): string[] {
  const text = readFileSync(join(ROOT, `test/fixtures/ganeti-3.0.2/extra/kvm-cmdline.${name}.txt`), "utf8");
  return text
    .trim()
    .split("\n")
    .slice(1)
    .map((a) =>
      a
        .replaceAll("/var/run/ganeti/kvm-hypervisor/pid/", `${n.dir}/pid/`)
        .replaceAll("/var/log/ganeti/kvm/", `${n.dir}/log/`)
        .replaceAll("/var/run/ganeti/kvm-hypervisor/ctrl/", `${n.dir}/ctrl/`)
        .replaceAll("/var/run/ganeti/instance-disks/", `${n.disks}/`)
        .replaceAll("/srv/ganeti/iso/empty.iso", files.iso),
    );
}

/** The same argv for another node: its pid file, log, sockets and disk links. */
export const onNode = (argv: readonly string[], from: Node, to: Node): string[] =>
  argv.map((a) => a.replaceAll(`${from.dir}/`, `${to.dir}/`));

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));

/**
 * A QEMU that daemonized itself, as Ganeti starts them: found by its pid file, owned by the test
 * (SIGKILL by that pid in teardown), inspected over the instance's QMP socket.
 */
export async function daemon(t: Test, n: Node): Promise<{ pid: number; qmp: QmpClient; kill: () => Promise<void> }> {
  const pid = Number(readFileSync(n.pidfile, "utf8").trim());
  const kill = async () => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      return;
    }
    for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  };
  t.teardown(kill);
  const qmp = await QmpClient.connect(n.qmp, { timeoutMs: 5000 });
  t.teardown(() => qmp.close());
  return { pid, qmp, kill };
}
