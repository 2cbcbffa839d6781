// What the two-node Ganeti 3.0.2 suites share: the cluster of two-nodes.sh up, its kvm_path a path
// of the run's own standing for /usr/bin/kvm, and the plugin's package installed on the machine
// both nodes share; at the end, also when a check fails, both nodes disabled, the package purged,
// the cluster down and every file put back.
import { execFileSync } from "node:child_process";
import { existsSync, rmSync, symlinkSync } from "node:fs";
import type { Test } from "tap";
import { REAL_QEMU } from "../helpers/launcher.js";
import { INSTALLED, installPackage, purgePackage } from "../package/install.js";
import { gnt, keepPluginFiles, setUp, TWO_NODES, twoNodesNode } from "./harness.js";

/**
 * The cluster's kvm_path: a QEMU binary path of this run's own, as /usr/bin/kvm is on a cluster,
 * and like it a name ending in "kvm", by which QEMU tries KVM first.
 */
export const KVM = `/usr/local/bin/gqb-${process.pid}-kvm`;
export const N1 = twoNodesNode(1);
export const N2 = twoNodesNode(2);
/** Ganeti's commands go to the master, node 1. */
export const master = (cmd: string, ...args: string[]) => gnt(N1, cmd, ...args);
/** The two nodes share this machine's /usr: one package serves both. */
export const HOST = { enter: [] };

/** `env` goes to two-nodes.sh (GQB_NODE2_QEMU); `enable`: the plugin enabled on both nodes at once. */
export function twoNodeSuite(t: Test, opts: { env?: NodeJS.ProcessEnv; enable?: boolean; close?: () => void } = {}): void {
  let restorePluginFiles = () => {};
  setUp(
    t,
    () => {
      execFileSync("bash", [TWO_NODES, "up"], { stdio: "inherit", env: { ...process.env, ...opts.env } });
      symlinkSync(REAL_QEMU, KVM);
      const set = master("gnt-cluster", "modify", "-H", `kvm:kvm_path=${KVM}`);
      if (set.code !== 0) throw new Error(set.out);
      restorePluginFiles = keepPluginFiles();
      installPackage(HOST);
      if (opts.enable)
        for (const n of [N1, N2])
          execFileSync(INSTALLED.command, ["enable", "--path", KVM, "--hooks-dir", n.hooks], { stdio: "ignore" });
    },
    () => {
      opts.close?.();
      try {
        // If a check stopped before: both nodes disabled (when the package got installed).
        if (existsSync(INSTALLED.command))
          for (const n of [N1, N2])
            execFileSync(INSTALLED.command, ["disable", "--path", KVM, "--hooks-dir", n.hooks], { stdio: "inherit" });
      } finally {
        try {
          purgePackage(HOST);
        } finally {
          execFileSync("bash", [TWO_NODES, "down"], { stdio: "inherit" });
          rmSync(KVM, { force: true });
          rmSync(`${KVM}.distrib`, { force: true });
          restorePluginFiles();
        }
      }
    },
  );
}
