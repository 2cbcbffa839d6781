// The real-Ganeti lab, as the suites (test/ganeti/) and the bench (bench/migration.ts) drive it:
// a node (this machine, test/ganeti/cluster.sh, or one of the two namespaced nodes of
// test/ganeti/two-nodes.sh, whose /run/ganeti is a directory of the host), Ganeti's CLI on it, an
// instance of the test guest, its console, and the plugin's machine-wide files. No assertions here.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { DEFAULT_CACHE_DIR, DEFAULT_CONFIG_PATH } from "../src/host/plugin-files.js";
import { type Expect, guestFiles, type Seen, waitLine } from "./guest.js";
import { ROOT } from "./root.js";

export interface Done {
  code: number | null;
  out: string;
}

export interface GanetiNode {
  /** The node's /var/run/ganeti, as the host sees it. */
  run: string;
  /** The node's /etc/ganeti/hooks, as the host sees it. */
  hooks: string;
  /** The node's /var/log/ganeti, as the host sees it. */
  log: string;
  /** argv prefix that runs a command on the node (empty: on this machine). */
  enter: string[];
}

/** A node of test/ganeti/two-nodes.sh (its state directory is the script's default). */
export type NamedNode = GanetiNode & { name: string };
export const TWO_NODES = join(ROOT, "test/ganeti/two-nodes.sh");
export function twoNodesNode(n: 1 | 2): NamedNode {
  const state = "/tmp/gqb-two-nodes";
  return {
    name: `gnt-node${n}.ganeti.test`,
    run: join(state, `n${n}/run`),
    hooks: join(state, `n${n}/etc/hooks`),
    log: join(state, `n${n}/log`),
    enter: ["bash", TWO_NODES, "x", String(n)],
  };
}

/** A Ganeti command on a node, its stdout and stderr together as an operator sees them. */
export function gnt(node: Pick<GanetiNode, "enter">, cmd: string, ...args: string[]): Done {
  const [exe, ...pre] = [...node.enter, cmd];
  const r = spawnSync(exe ?? cmd, [...pre, ...args], { encoding: "utf8", timeout: 180_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

export const ctrlSocket = (node: GanetiNode, inst: string, kind: "qmp" | "serial") =>
  join(node.run, "kvm-hypervisor/ctrl", `${inst}.${kind}`);
export const pidFile = (node: GanetiNode, inst: string) => join(node.run, "kvm-hypervisor/pid", inst);
export const runtimeFile = (node: GanetiNode, inst: string) => join(node.run, "kvm-hypervisor/conf", `${inst}.runtime`);

/** An instance's guest console (Ganeti's serial socket on its node): lines as they come. */
export class Console {
  text = "";
  private sock: Socket | undefined;
  private readonly inst: string;
  constructor(inst: string) {
    this.inst = inst;
  }
  /**
   * Connects to the console, retrying for a few seconds (QEMU creates the socket as it starts): a
   * console that never connected would make every later wait fail without saying why.
   */
  async open(node: GanetiNode): Promise<void> {
    this.sock?.destroy();
    const path = ctrlSocket(node, this.inst, "serial");
    const deadline = Date.now() + 10_000;
    for (;;) {
      const sock = connect(path);
      const error = await new Promise<Error | undefined>((resolve) => {
        sock.once("connect", () => resolve(undefined));
        sock.once("error", resolve);
      });
      if (!error) {
        this.sock = sock;
        sock.on("data", (b: Buffer) => {
          this.text += b.toString("latin1");
        });
        sock.on("error", (e) => {
          this.text += `\n[console: ${e.message}]\n`;
        });
        return;
      }
      sock.destroy();
      if (Date.now() > deadline) throw new Error(`cannot connect to the guest console ${path}: ${error.message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  /** Where in the text each boot the suite asked for (`boot`) and each live migration began. */
  readonly marks: { asked: number[]; migrated: number[] } = { asked: [], migrated: [] };
  /** Connects on `node` and waits for the guest's next boot to finish; returns where the text ends then. */
  async boot(node: GanetiNode, ms = 90_000): Promise<number> {
    const from = this.text.length;
    this.marks.asked.push(from);
    await this.open(node);
    await this.waitFor(/GUEST: BOOT-OK/, from, ms);
    return this.text.length;
  }
  close() {
    this.sock?.destroy();
  }
  /**
   * The guest's boots, each put down to what came last before it: a boot the suite asked for, or a
   * live migration (QEMU under TCG here sometimes resets a guest after one, stock QEMU on both sides
   * as well: measured in issue 14, and it may come seconds later). A second boot after one asked
   * for, with no migration between, is a restart on its own.
   */
  boots(): { asked: number; afterMigration: number; onItsOwn: number } {
    const counted = { asked: 0, afterMigration: 0, onItsOwn: 0 };
    const used = new Set<number>();
    for (let at = this.text.indexOf("GUEST: BOOT-OK"); at >= 0; at = this.text.indexOf("GUEST: BOOT-OK", at + 1)) {
      const asked = Math.max(-1, ...this.marks.asked.filter((m) => m <= at));
      const migrated = Math.max(-1, ...this.marks.migrated.filter((m) => m <= at));
      if (migrated > asked) counted.afterMigration++;
      else if (asked >= 0 && !used.has(asked)) {
        used.add(asked);
        counted.asked++;
      } else counted.onItsOwn++;
    }
    return counted;
  }
  /** Waits for a complete line (or a state, see `Expect`) at or after `from`; see `waitLine`. */
  async waitFor(re: RegExp | Expect, from: number, ms = 60_000): Promise<RegExpExecArray> {
    return (await this.seen(re, from, ms)).match;
  }
  /** As `waitFor`, with where the line ends: the next wait starts there. */
  seen(re: RegExp | Expect, from: number, ms = 60_000): Promise<Seen> {
    return waitLine(() => this.text, re instanceof RegExp ? { re } : re, ms, from);
  }
}

/**
 * Adds (not starts) an instance of the project's test guest: two disks, no NICs, Ganeti's do-nothing
 * OS; `hv` adds hvparams (kvm_path, disk_type, ...).
 */
export function addTestInstance(
  master: GanetiNode,
  name: string,
  o: {
    template: string;
    pnode: string;
    memory: string;
    hv: string;
    disks?: string[];
    /** The guest to boot directly; "none": no kernel, the firmware finds nothing to boot and waits. */
    guest?: { kernel: string; initrd: string } | "none";
    /** The guest measures the I/O rates of its marked disks (lab/guest.ts markIoTest). */
    io?: boolean;
  },
): void {
  const g = o.guest ?? guestFiles();
  const boot =
    g === "none"
      ? "kernel_path=,initrd_path="
      : `kernel_path=${g.kernel},initrd_path=${g.initrd},kernel_args=panic=-1${o.io ? " gqb.io" : ""}`;
  const r = gnt(
    master,
    "gnt-instance",
    "add",
    "-t",
    o.template,
    ...(o.disks ?? ["0:size=64M", "1:size=32M"]).flatMap((d) => ["--disk", d]),
    "-o",
    "gqbnoop+default",
    "--no-nics",
    "-B",
    `memory=${o.memory},vcpus=1`,
    "-n",
    o.pnode,
    "--no-start",
    "--no-ip-check",
    "--no-name-check",
    "-H",
    `kvm:${o.hv ? `${o.hv},` : ""}${boot},serial_console=true`,
    name,
  );
  if (r.code !== 0) throw new Error(`gnt-instance add ${name}: ${r.out}`);
}

/**
 * The plugin's machine-wide files (config file, cache directory) as they are now; the returned
 * function puts them back: a suite may write the config, it must not leave it changed.
 */
export function keepPluginFiles(): () => void {
  const config = existsSync(DEFAULT_CONFIG_PATH) ? readFileSync(DEFAULT_CONFIG_PATH, "utf8") : undefined;
  const hadDir = existsSync(dirname(DEFAULT_CONFIG_PATH));
  const hadCache = existsSync(DEFAULT_CACHE_DIR);
  return () => {
    if (config !== undefined) {
      // The package's purge takes the directory with it.
      mkdirSync(dirname(DEFAULT_CONFIG_PATH), { recursive: true });
      writeFileSync(DEFAULT_CONFIG_PATH, config);
    } else if (hadDir) rmSync(DEFAULT_CONFIG_PATH, { force: true });
    else rmSync(dirname(DEFAULT_CONFIG_PATH), { recursive: true, force: true });
    if (!hadCache) rmSync(DEFAULT_CACHE_DIR, { recursive: true, force: true });
  };
}

/** Writes the plugin's config file (Ganeti resets the environment: the launcher reads only this). */
export function writePluginConfig(config: object): void {
  mkdirSync(dirname(DEFAULT_CONFIG_PATH), { recursive: true });
  writeFileSync(DEFAULT_CONFIG_PATH, JSON.stringify(config));
}
