// What the Debian 13 suites share: the trixie chroot's nodes (test/debian13/trixie.sh and
// two-nodes.sh) as the host sees them, the plugin installed in the chroot the README way (the .deb
// with apt, `ganeti-qemu-blockdev enable --hooks-only`; the launcher as kvm_path), and a
// runtime file made into the one Ganeti 3.0 writes (a node upgraded with instances running).
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_CONFIG_PATH } from "../../src/host/plugin-files.js";
import { type GanetiNode, type NamedNode, runtimeFile } from "../ganeti/harness.js";
import { ROOT } from "../helpers/hook.js";
import { INSTALLED, installPackage, pluginCommand, purgePackage } from "../package/install.js";

/** Paths as the chroot's processes see them: the project (trixie.sh project), the test media. */
export const INSIDE = { project: "/opt/gqb", media: "/srv/gqb-media" };
/** The test guest, built on the host and copied in with the project. */
export const GUEST = { kernel: `${INSIDE.project}/.cache/guest/vmlinux`, initrd: `${INSIDE.project}/.cache/guest/initrd.gz` };
export const LAUNCHER = INSTALLED.launcher;

/**
 * The one node of test/debian13/trixie.sh (Ganeti 3.1, QEMU 10 in a trixie chroot). Its /run is a
 * tmpfs of its namespace, seen from here through the namespace holder's /proc/<pid>/root; the rest
 * is the chroot's. Paths the chroot's processes read (hook links, the guest) are written as seen
 * from inside.
 */
export const TRIXIE = join(ROOT, "test/debian13/trixie.sh");
/** Which chroot, as lib.sh chooses it: trixie's QEMU (10.0), or trixie-backports' (GQB_TRIXIE_QEMU=backports). */
const SUFFIX = process.env["GQB_TRIXIE_QEMU"] === "backports" ? "-bpo" : "";
export const TRIXIE_ROOT = `/srv/gqb-trixie${SUFFIX}`;
/** Commands in the chroot (the one node's namespace; the pair's files are in the same chroot). */
const CHROOT = { enter: ["bash", TRIXIE, "x"] };
export function trixieNode(): NamedNode {
  const holder = readFileSync(`/run/gqb-trixie${SUFFIX}/holder.pid`, "utf8").trim();
  return {
    name: "gqb13-node1.ganeti.test",
    run: `/proc/${holder}/root/run/ganeti`,
    hooks: join(TRIXIE_ROOT, "etc/ganeti/hooks"),
    log: join(TRIXIE_ROOT, "var/log/ganeti"),
    enter: ["bash", TRIXIE, "x"],
  };
}

/**
 * A node of test/debian13/two-nodes.sh: two Ganeti 3.1 nodes in the trixie chroot. Their private
 * directories are under the chroot's /srv/gqb13-pair/nN; `kvmLink` is the node's own
 * /usr/local/lib/gqb-node/kvm (the pair's kvm_path), a link the suite points at stock QEMU or at
 * the launcher, so that one node can run the plugin and the other not.
 */
export const TRIXIE_PAIR = join(ROOT, "test/debian13/two-nodes.sh");
export const PAIR_KVM_PATH = "/usr/local/lib/gqb-node/kvm";
export function trixiePairNode(n: 1 | 2): NamedNode & { kvmLink: string } {
  const dir = join(TRIXIE_ROOT, "srv/gqb13-pair", `n${n}`);
  return {
    name: `gqb13-pair${n}.ganeti.test`,
    run: join(dir, "run"),
    hooks: join(dir, "etc/hooks"),
    log: join(dir, "log"),
    enter: ["bash", TRIXIE_PAIR, "x", String(n)],
    kvmLink: join(dir, "bin/kvm"),
  };
}

/**
 * The README's install in the chroot: the package (apt-get install ./…deb), the config file (QEMU
 * at /usr/bin/kvm) and the two test media; `ganeti-qemu-blockdev enable --hooks-only` for the nodes
 * given. The launcher goes in front of QEMU by each suite's own means (kvm_path).
 */
export function installPlugin(nodes: readonly GanetiNode[]): void {
  installPackage(CHROOT, TRIXIE_ROOT);
  mkdirSync(join(TRIXIE_ROOT, DEFAULT_CONFIG_PATH, ".."), { recursive: true });
  writeFileSync(join(TRIXIE_ROOT, DEFAULT_CONFIG_PATH), JSON.stringify({ qemu: "/usr/bin/kvm", timeouts: { unplug: 3 } }));
  mkdirSync(join(TRIXIE_ROOT, INSIDE.media), { recursive: true });
  for (const [name, marker] of [
    ["one.iso", "MEDIUM-ONE"],
    ["two.iso", "MEDIUM-TWO"],
  ] as const) {
    const data = Buffer.alloc(1 << 20);
    data.write(marker);
    writeFileSync(join(TRIXIE_ROOT, INSIDE.media, name), data);
  }
  for (const node of nodes) enableHooks(node);
}

/** A node's hooks directory as the chroot's processes see it. */
const hooksInside = (node: GanetiNode) => node.hooks.slice(TRIXIE_ROOT.length);

/** `ganeti-qemu-blockdev enable --hooks-only` for one node's hooks directory. */
export function enableHooks(node: GanetiNode): string {
  return pluginCommand(CHROOT, "enable", "--hooks-only", "--hooks-dir", hooksInside(node));
}

/** `ganeti-qemu-blockdev disable` for one node's hooks directory (cluster-verify's link stays). */
export function disableHooks(node: GanetiNode): string {
  return pluginCommand(CHROOT, "disable", "--hooks-dir", hooksInside(node));
}

/**
 * The package purged from the chroot (it stays for the next run), after every hook link of the
 * nodes given is gone (`disable --all`: the cluster-verify hook's too).
 */
export function uninstallPlugin(nodes: readonly GanetiNode[]): void {
  try {
    for (const node of nodes) pluginCommand(CHROOT, "disable", "--all", "--hooks-dir", hooksInside(node));
  } finally {
    purgePackage(CHROOT);
  }
}

/** Points a pair node's kvm_path at the launcher (the plugin) or at /usr/bin/kvm (stock). */
export function pairQemu(node: ReturnType<typeof trixiePairNode>, plugin: boolean): void {
  rmSync(node.kvmLink, { force: true });
  symlinkSync(plugin ? LAUNCHER : "/usr/bin/kvm", node.kvmLink);
}

/**
 * The runtime file of a running instance made into the one Ganeti 3.0 writes (the same format,
 * test/fixtures/ganeti-3.0.2/extra/kvm-runtime.instance-start.json): the CD-ROM a legacy -drive in
 * kvm_cmd, and disk_discard=default in up_hvp, which 3.1's upgrade of the file leaves in place for
 * an instance without VNC. What a node upgraded from 3.0 to 3.1 with instances running holds.
 */
export function asWrittenBy30(node: GanetiNode, inst: string, iso: string): void {
  const path = runtimeFile(node, inst);
  const doc = JSON.parse(readFileSync(path, "utf8")) as [unknown[], unknown, Record<string, unknown>, unknown];
  const argv: unknown[] = [];
  for (let i = 0; i < doc[0].length; i++) {
    const [word, value] = [doc[0][i], String(doc[0][i + 1])];
    if (word === "-blockdev" && value.includes("node-name=cdrom1")) i++;
    else if (word === "-device" && value.includes("drive=cdrom1")) {
      argv.push("-drive", `file=${iso},media=cdrom,format=raw,if=ide`);
      i++;
    } else argv.push(word);
  }
  doc[0] = argv;
  doc[2]["disk_discard"] = "default";
  writeFileSync(path, JSON.stringify(doc));
}
