// What the real-Ganeti suites add to the lab (lab/ganeti.ts, which the bench drives too, and which
// this module passes on): the cluster-verify hook's report, what an instance's QEMU has (over QMP,
// from /proc), and the checks of live migration and hot-add every release and cluster share.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import {
  type Console,
  ctrlSocket,
  type Done,
  type GanetiNode,
  gnt,
  type NamedNode,
  pidFile,
  runtimeFile,
} from "../../lab/ganeti.js";
import { ioPass, markIoTest, mibps, nearCap } from "../../lab/guest.js";
import { HOOK_LINKS } from "../../src/host/plugin-files.js";
import { QmpClient } from "../../src/qmp/client.js";
import { runningLimits } from "../../src/qos/running.js";
import { accelerator, triedKvm } from "../helpers/accel.js";
import { guestLayout, peripheralIds } from "../helpers/inspect.js";

export * from "../../lab/ganeti.js";

/**
 * What the plugin's cluster-verify hook said in `gnt-cluster verify`'s output: Ganeti wraps its
 * feedback and stamps every line, so the stamps and the wrapping go before looking.
 */
export function verifyReport(out: string): string {
  const text = out.replace(/^\w{3} \w{3} +\d+ [\d:]+ \d{4} /gm, "").replace(/\s+/g, " ");
  const at = text.indexOf("ganeti-qemu-blockdev: ");
  return at < 0 ? "" : text.slice(at);
}

/**
 * Whether `gnt-cluster verify` counted the plugin's cluster-verify hook as failed (Ganeti's "Script
 * <name> failed" error): what fails verify, whatever else a test cluster's verify finds.
 */
export function verifyHookFailed(out: string): boolean {
  const link = HOOK_LINKS.find(({ hook }) => hook === "cluster-verify")?.link ?? "";
  // Ganeti names a script by its path in the hooks directory: "<phase dir>/<name>".
  return out.replace(/\s+/g, " ").includes(`Script ${link} failed`);
}

/** The last line of a command's output, for assertion messages. */
export const lastLine = (d: Done) => d.out.trim().split("\n").at(-1) ?? "";

/** The QEMU pid Ganeti recorded for an instance on a node, if that process lives. */
export function qemuPid(node: GanetiNode, inst: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(node, inst), "utf8"));
    readFileSync(`/proc/${pid}/cmdline`);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * How an instance's QEMU runs, as monitoring and operators see it: argv[0], comm, the binary, and
 * whether it tried KVM: it runs on KVM (asked over QMP), or its log (Ganeti's -D <log>, where a
 * daemonized QEMU's stderr goes) says it could not.
 */
export async function qemuIdentity(node: GanetiNode, inst: string) {
  const pid = Number(readFileSync(pidFile(node, inst), "utf8"));
  const accel = await withQmp(node, inst, accelerator);
  return {
    argv0: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0],
    comm: readFileSync(`/proc/${pid}/comm`, "utf8").trim(),
    exe: realpathSync(`/proc/${pid}/exe`),
    triedKvm: triedKvm(accel, readFileSync(join(node.log, "kvm", `${inst}.log`), "utf8")),
  };
}

/** The disks the runtime file lists (Ganeti's own record of the running instance). */
export const runtimeDisks = (node: GanetiNode, inst: string) =>
  (JSON.parse(readFileSync(runtimeFile(node, inst), "utf8")) as [unknown, unknown, unknown, unknown[]])[3].length;

/** Runs `fn` with a short QMP session to the instance (QEMU serves one client: Ganeti uses it too). */
export async function withQmp<T>(node: GanetiNode, inst: string, fn: (q: QmpClient) => Promise<T>): Promise<T> {
  const qmp = await QmpClient.connect(ctrlSocket(node, inst, "qmp"), { timeoutMs: 5000 });
  try {
    return await fn(qmp);
  } finally {
    qmp.close();
  }
}

/** What an instance's QEMU has right now: its disks' backends, its argv, fds on deleted files. */
export async function storage(node: GanetiNode, inst: string) {
  return withQmp(node, inst, async (qmp) => {
    const blocks = await qmp.execute<{ device: string; qdev: string; inserted?: { "node-name": string } }[]>("query-block");
    const nodes = await qmp.execute<{ "node-name": string }[]>("query-named-block-nodes", { flat: true });
    const status = await qmp.execute<{ status: string }>("query-status");
    const pid = Number(readFileSync(pidFile(node, inst), "utf8"));
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const deleted = readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        // (QEMU 10's display surfaces are memfds, which show as deleted too: not images)
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        return target.endsWith(" (deleted)") && !target.startsWith("/memfd:");
      } catch {
        return false;
      }
    });
    return {
      pid,
      status: status.status,
      legacy: blocks.filter((b) => b.inserted && b.device !== "").map((b) => b.device),
      disks: blocks.flatMap((b) => (b.inserted?.["node-name"].startsWith("disk-") ? [b.inserted["node-name"]] : [])),
      orphans: nodes
        .map((n) => n["node-name"])
        .filter((n) => /^disk-[^-]+-[^-]+-[^-]+$/.test(n) && !blocks.some((b) => b.inserted?.["node-name"] === n)),
      argv,
      deleted,
    };
  });
}

/** Asserts that every disk of the instance is on -blockdev (nothing on a legacy -drive backend). */
export async function allBlockdev(t: Test, node: GanetiNode, inst: string, what: string) {
  const s = await storage(node, inst);
  t.notOk(s.argv.includes("-drive"), `${what}: QEMU's command line has no -drive`);
  t.same(s.legacy, [], `${what}: no disk on a legacy -drive backend`);
  return s;
}

/**
 * What a live migration must keep: the guest-visible layout (PCI functions and storage devices in
 * their places) and the device ids QEMU and Ganeti address them by.
 */
export async function layout(node: GanetiNode, inst: string) {
  return withQmp(node, inst, async (qmp) => ({ ...(await guestLayout(qmp)), ids: await peripheralIds(qmp) }));
}

/**
 * The device ids Ganeti gives an instance's devices: `id=` of the -device arguments in the runtime
 * file's kvm_cmd (controllers), and each disk's hvinfo id (Ganeti adds disks' -device at start).
 */
export function ganetiDeviceIds(node: GanetiNode, inst: string): string[] {
  const [argv, , , disks] = JSON.parse(readFileSync(runtimeFile(node, inst), "utf8")) as [
    unknown[],
    unknown,
    unknown,
    [{ hvinfo?: { id?: string } }][],
  ];
  const fromArgv = argv.flatMap((a, i) =>
    argv[i - 1] === "-device" && typeof a === "string" ? [/(?:^|,)id=([^,]+)/.exec(a)?.[1] ?? ""] : [],
  );
  return [...fromArgv, ...disks.map(([d]) => d.hvinfo?.id ?? "")].filter((id) => id !== "").sort();
}

/**
 * A suite's set-up and its undo. tap does not run teardowns when a `before` throws, and the process
 * then ends: the undo (cluster down, names and files restored) runs then too, once.
 */
export function setUp(t: Test, up: () => void, down: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    down();
  };
  t.before(() => {
    try {
      up();
    } catch (e) {
      once();
      throw e;
    }
  });
  t.teardown(once);
}

/**
 * Live migration and hot-add through Ganeti's CLI, checked alike on every release and cluster: a
 * migrated instance runs on the target only (started with -incoming), and its guest sees the same
 * machine; a hot-added disk appears in the guest.
 */
export class Migrations {
  private readonly master: GanetiNode;
  private readonly nodes: readonly GanetiNode[];
  private readonly consoleOf: (inst: string) => Console;
  constructor(master: GanetiNode, nodes: readonly GanetiNode[], consoleOf: (inst: string) => Console) {
    this.master = master;
    this.nodes = nodes;
    this.consoleOf = consoleOf;
  }

  /**
   * Migrates an instance and checks what must hold whatever QEMU ran on either side: it runs on the
   * target now (started with -incoming), not on the source, and it looks the same as before.
   */
  async migrate(t: Test, inst: string, from: NamedNode, to: NamedNode) {
    const before = await layout(from, inst);
    this.consoleOf(inst).marks.migrated.push(this.consoleOf(inst).text.length);
    const start = performance.now();
    const r = gnt(this.master, "gnt-instance", "migrate", "-f", "-n", to.name, inst);
    const seconds = (performance.now() - start) / 1000;
    t.equal(r.code, 0, `gnt-instance migrate ${inst} to ${to.name}: ${lastLine(r)}`);
    t.comment(`${inst}: ${from.name} -> ${to.name} in ${seconds.toFixed(1)} s`);
    t.equal(qemuPid(from, inst), undefined, "no QEMU left for it on the source");
    const s = await storage(to, inst);
    t.equal(s.status, "running", "the guest runs on the target");
    t.ok(s.argv.includes("-incoming"), "a QEMU started to receive the source's state (-incoming), not a fresh boot");
    const after = await layout(to, inst);
    t.same(
      { pci: after.pci, storage: after.storage },
      { pci: before.pci, storage: before.storage },
      "the guest sees the same PCI functions and storage devices, in the same places",
    );
    // Ganeti addresses its devices by the ids of its command line; the launcher also names devices
    // Ganeti left anonymous (a legacy CD-ROM), which a stock QEMU target leaves anonymous again.
    const named = ganetiDeviceIds(to, inst);
    t.ok(
      named.length > 0 && named.every((id) => after.ids.includes(id)),
      `the devices Ganeti names are there: ${named.join(" ")}`,
    );
    // QEMU under TCG here sometimes resets a guest after a live migration, stock QEMU on both sides
    // as well (see Console.boots). A reset guest prints its kernel's banner: one seen within a few
    // seconds is waited for, so that the checks after it test the plugin, not that reset.
    const cons = this.consoleOf(inst);
    const mark = cons.text.length;
    await cons.open(to);
    await new Promise((r) => setTimeout(r, 3000));
    if (cons.text.slice(mark).includes("Linux version")) {
      t.comment(`${inst}: the guest was reset after the migration (QEMU under TCG); waiting for its boot`);
      await cons.waitFor(/GUEST: BOOT-OK/, mark, 90_000);
    }
    return { ...s, ids: after.ids };
  }

  /**
   * A disk added with Ganeti's CLI where the instance runs now: the guest must see it appear. No
   * warning at all, unless `ganetiWarns` (Ganeti's own attempt is expected to fail): then no hook
   * may fail. Returns what Ganeti printed.
   */
  async hotAdd(t: Test, inst: string, ganetiWarns = false): Promise<string> {
    const cons = this.consoleOf(inst);
    const from = cons.text.length;
    const r = gnt(this.master, "gnt-instance", "modify", "--disk", "add:size=16M", inst);
    t.equal(r.code, 0, `modify --disk add: ${/disk\/\d+ -> \S+/.exec(r.out)?.[0] ?? r.out}`);
    if (ganetiWarns) t.notMatch(r.out, /script \S+ failed/, "no hook failed");
    else t.notMatch(r.out, /WARNING/, "no warning: no hook failed");
    try {
      const seen = await cons.waitFor(/GUEST: add ([a-z]+)/, from);
      t.pass(`the guest sees /dev/${seen[1]}`);
    } catch (e) {
      const on = this.nodes.find((n) => qemuPid(n, inst) !== undefined);
      const s = on && (await storage(on, inst));
      // A guest that restarted shows why just before its new boot log.
      const reboot = cons.text.lastIndexOf("Linux version");
      t.fail(`${(e as Error).message}; QEMU has ${JSON.stringify(s?.disks)}`, {
        "console since the add": cons.text.slice(from),
        "console before the last boot": reboot > 0 ? cons.text.slice(Math.max(0, reboot - 3000), reboot + 100) : "",
      });
    }
    return r.out;
  }
}

/** What QEMU enforces on each disk of an instance (by device id): its limits and group. */
export const enforcedLimits = (node: GanetiNode, inst: string) =>
  withQmp(
    node,
    inst,
    async (q) => new Map([...(await runningLimits(q))].map(([id, r]) => [id, { ...r.limits, group: r.group }])),
  );

/**
 * Per-disk I/O limits across a live migration, through Ganeti's CLI, measured by the guest on both
 * sides: a shared group (disk-qos:all) set live with `qos` on the master, kept on the target
 * (its launcher sets them before the migration stream), then changed live on the target to a
 * limit of disk 0 alone (the master hands `qos` to the instance's node). At the end the instance
 * has no tags and no limits, on the target.
 */
export async function qosAcrossMigration(
  t: Test,
  o: {
    inst: string;
    from: NamedNode;
    to: NamedNode;
    master: GanetiNode;
    /** The plugin's command as the master runs it. */
    command: string;
    checks: Migrations;
    cons: Console;
    /** Disk i's file as this machine sees it. */
    diskFile: (node: NamedNode, i: number) => string;
  },
): Promise<void> {
  const MIB = 1 << 20;
  const run = (cmd: string, ...args: string[]) => gnt(o.master, cmd, ...args);
  const measure = (names: string[]) => ioPass((re, from) => o.cons.seen(re, from), names, o.cons.text.length);
  const near = (rate: number, what: string) => t.ok(nearCap(rate, MIB), `${what}: ${mibps(rate)}, cap 1 MiB/s`);
  t.equal(run("gnt-instance", "add-tags", o.inst, "disk-qos:all:bps:1M").code, 0);
  const set = run(o.command, "qos", o.inst);
  t.match(set.out, /set disk0 \S+: bps 1M \(group disk-qos-all\)/, `qos on the master: ${set.out}`);
  for (const i of [0, 1]) markIoTest(o.diskFile(o.from, i), `Q${i}`);
  const [a0, a1] = await measure(["Q0", "Q1"]);
  near((a0?.wr ?? 0) + (a1?.wr ?? 0), `on ${o.from.name}: the group's writes, both disks at once`);

  await o.checks.migrate(t, o.inst, o.from, o.to);
  const there = [...(await enforcedLimits(o.to, o.inst)).values()].filter((l) => l.group !== undefined);
  t.ok(
    there.length >= 2 && there.every((l) => l.bps === MIB && l.group === "disk-qos-all"),
    `on ${o.to.name}, query-block: every disk in the group at 1 MiB/s: ${JSON.stringify(there)}`,
  );
  const [b0, b1] = await measure(["Q0", "Q1"]);
  near((b0?.wr ?? 0) + (b1?.wr ?? 0), `on ${o.to.name}: the group's writes, both disks at once`);

  t.equal(run("gnt-instance", "remove-tags", o.inst, "disk-qos:all:bps:1M").code, 0);
  t.equal(run("gnt-instance", "add-tags", o.inst, "disk-qos:disk0:bps:1M").code, 0);
  const moved = run(o.command, "qos", o.inst);
  t.match(moved.out, /set disk0 \S+: bps 1M \(group disk-[0-9a-f-]+\), was bps 1M/, `qos handed to ${o.to.name}: ${moved.out}`);
  const [c0, c1] = await measure(["Q0", "Q1"]);
  near(c0?.wr ?? 0, `on ${o.to.name}, after a live change: disk 0's writes`);
  t.ok((c1?.wr ?? 0) > 2 * MIB, `disk 1 is not limited any more: ${mibps(c1?.wr ?? 0)}`);

  for (const i of [0, 1]) markIoTest(o.diskFile(o.to, i), undefined);
  t.equal(run("gnt-instance", "remove-tags", o.inst, "disk-qos:disk0:bps:1M").code, 0);
  t.match(run(o.command, "qos", o.inst).out, /set disk0 \S+: none, was bps 1M/);
}
