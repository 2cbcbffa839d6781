import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Test } from "tap";
import { QEMU_TCG } from "../../scripts/lib/qemu-args.mjs";
import { QmpClient } from "../../src/qmp/client.js";

export const QEMU = process.env["QEMU"] ?? "qemu-system-x86_64";

export interface Vm {
  pid: number;
  proc: ChildProcess;
  /** The instance's QMP socket (what the hooks use). */
  hookSocket: string;
  /** A second QMP monitor the test inspects through, so it never competes with the hook. */
  qmp: QmpClient;
  stderr: () => string;
  kill: () => Promise<void>;
}

export interface VmOptions {
  machine?: string;
  memory?: number;
  extra?: string[];
  /** Leave the VM running instead of paused (-S). */
  running?: boolean;
  /** Boot files and console for a guest. */
  kernel?: { kernel: string; initrd: string; append: string; console: string };
}

function waitExit(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once("exit", () => resolve());
  });
}

/** Starts QEMU (TCG, no defaults, no display) owned by this test: killed by PID in teardown. */
export async function startVm(t: Test, dir: string, instance: string, argv: string[], opts: VmOptions = {}): Promise<Vm> {
  const hookSocket = join(dir, `${instance}.qmp`);
  const testSocket = join(dir, "test-monitor.qmp");
  const args = [
    ...QEMU_TCG,
    "-no-user-config",
    "-machine",
    opts.machine ?? "pc",
    "-m",
    String(opts.memory ?? 64),
    "-chardev",
    `socket,id=hookmon,path=${hookSocket},server=on,wait=off`,
    "-mon",
    "chardev=hookmon,mode=control",
    "-chardev",
    `socket,id=testmon,path=${testSocket},server=on,wait=off`,
    "-mon",
    "chardev=testmon,mode=control",
    ...(opts.running ? [] : ["-S"]),
    ...(opts.kernel
      ? [
          "-kernel",
          opts.kernel.kernel,
          "-initrd",
          opts.kernel.initrd,
          "-append",
          opts.kernel.append,
          "-chardev",
          `file,id=con,path=${opts.kernel.console}`,
          "-serial",
          "chardev:con",
          "-no-reboot",
        ]
      : []),
    ...(opts.extra ?? []),
    ...argv,
  ];
  const proc = spawn(QEMU, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await waitExit(proc);
    }
  };
  t.teardown(kill);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new QemuStartError(err.trim());
    if (existsSync(testSocket)) {
      try {
        const qmp = await QmpClient.connect(testSocket, { timeoutMs: 5000 });
        t.teardown(() => qmp.close());
        return { pid: proc.pid as number, proc, hookSocket, qmp, stderr: () => err, kill };
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) throw new Error(`QEMU did not open its monitor: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class QemuStartError extends Error {}

/** Starts QEMU expecting it to refuse the arguments; resolves with its error output. */
export async function qemuRefuses(t: Test, dir: string, argv: string[], opts: VmOptions = {}): Promise<string> {
  try {
    await startVm(t, dir, "refused", argv, opts);
  } catch (e) {
    if (e instanceof QemuStartError) return e.message;
    throw e;
  }
  throw new Error("QEMU accepted the arguments");
}

/** What the process has open: used to see O_DIRECT, io_uring rings and Linux AIO from outside. */
export function openFiles(pid: number): { target: string; flags: number }[] {
  const out: { target: string; flags: number }[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
      out.push({ target, flags: m ? Number.parseInt(m[1] as string, 8) : 0 });
    } catch {
      // fd closed meanwhile
    }
  }
  return out;
}

export const O_DIRECT = 0o40000;
export const hasLinuxAio = (pid: number) => /\[aio\]|\/\[aio\]/.test(readFileSync(`/proc/${pid}/maps`, "utf8"));
export const hasIoUring = (pid: number) => openFiles(pid).some((f) => f.target === "anon_inode:[io_uring]");

let loopRings: boolean | undefined;
/**
 * Whether this QEMU's own event loop holds io_uring rings, asked of a QEMU with no disk at all: QEMU
 * 7.2 and 10.0 open one only for an aio=io_uring disk, QEMU 11.1 opens its own whatever the disks
 * are. Where it does, a ring says nothing of a disk's aio mode, and what the plugin gave QEMU is
 * checked instead.
 */
export async function eventLoopUsesIoUring(t: Test, dir: string): Promise<boolean> {
  if (loopRings === undefined) {
    const vm = await startVm(t, dir, "ring-probe", []);
    await vm.qmp.execute("query-status");
    loopRings = hasIoUring(vm.pid);
    await vm.kill();
  }
  return loopRings;
}

/**
 * A system reset, which completes a pending unplug as the guest's acknowledgement would, and QEMU's
 * DEVICE_DELETED for `id` (listened for before the reset): the state to wait for, not a time.
 */
export async function resetCompletingUnplug(qmp: QmpClient, id: string, timeoutMs = 10_000): Promise<void> {
  const deleted = qmp.listen({ names: ["DEVICE_DELETED"], data: { device: id } });
  try {
    await qmp.execute("system_reset");
    await deleted.next(timeoutMs);
  } finally {
    deleted.close();
  }
}

/** device_del of a device the guest lets go of at once (SCSI, or no guest), and QEMU's DEVICE_DELETED for it. */
export async function deleteDevice(qmp: QmpClient, id: string, timeoutMs = 10_000): Promise<void> {
  const deleted = qmp.listen({ names: ["DEVICE_DELETED"], data: { device: id } });
  try {
    await qmp.execute("device_del", { id });
    await deleted.next(timeoutMs);
  } finally {
    deleted.close();
  }
}

/**
 * Waits until QEMU serves a new QMP client on `socket` again (it serves one at a time, and notices
 * a client's leaving on its own time): connects, greets and closes, until the deadline.
 */
export async function untilServed(socket: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      (await QmpClient.connect(socket, { timeoutMs: 500 })).close();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a migration's -incoming). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
