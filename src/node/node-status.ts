import { existsSync, readFileSync } from "node:fs";
import { PluginError } from "../errors.js";
import { DEFAULT_PATHS, type NodePaths } from "../ganeti/paths.js";
import type { NodeStatus } from "../generated/node-status.js";
import { configPath, DEFAULT_QEMU, readConfigFile } from "../host/config.js";
import { linkedHooks } from "../host/hook-links.js";
import { HOOK_LINKS, KEPT_WHEN_DISABLED } from "../host/plugin-files.js";
import { PLUGIN_VERSION } from "../host/plugin-version.js";
import { probeQemuVersion } from "../host/qemu-version.js";
import { hostHasKvm, nameTriesKvm } from "../launcher/qemu-name.js";
import { deprecatedMachines, runningMachines, versionedMachineTypes } from "./machines.js";
import { launcherState } from "./setup.js";

/** What `ganeti-qemu-blockdev status --json` says of a node (schemas/node-status.schema.json). */
export type { NodeStatus };

/** The hooks a node needs linked to be enabled: every one but the cluster-verify hook. */
export const OPERATION_HOOKS: string[] = [...new Set(HOOK_LINKS.map((l) => l.hook))].filter((h) => h !== KEPT_WHEN_DISABLED);

/** The build named on a bundle's last line (scripts/bundle.mjs); "source" when run from the sources. */
function buildOf(bundle: string): string {
  try {
    const text = readFileSync(bundle, "utf8");
    return text.slice(text.lastIndexOf("\n// build ") + 10).trim() || "source";
  } catch {
    return "source";
  }
}

/**
 * This node's plugin, as the cluster-verify hook reports it: its version, which hooks are linked,
 * where the launcher stands, and what is wrong on its own (an invalid config, a half-made enable or
 * disable at a QEMU path, a QEMU behind the launcher that is missing or would not try KVM where the
 * host has it). `paths`: QEMU paths to look at besides the plugin's diversions.
 */
export function nodeStatus(
  root: string,
  hooksDir: string,
  bundle: string,
  paths: string[] = [DEFAULT_QEMU],
  node: NodePaths = DEFAULT_PATHS,
): NodeStatus {
  const problems: string[] = [];
  const hooks = linkedHooks(root, hooksDir).filter((h) => h !== KEPT_WHEN_DISABLED);
  const missing = OPERATION_HOOKS.filter((h) => !hooks.includes(h));
  if (missing.length) problems.push(`the plugin is disabled: hooks not linked in ${hooksDir}: ${missing.join(", ")}`);
  let launcher: string[] = [];
  let qemuVersion: string | undefined;
  let running: NonNullable<NodeStatus["running"]> | undefined;
  let machineTypes: string[] | undefined;
  try {
    const state = launcherState(root, paths, node.cacheDir);
    launcher = state.launcher;
    problems.push(...state.half);
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    problems.push(`the launcher's state is unknown: ${e.message}`);
  }
  try {
    const { config } = readConfigFile(configPath(process.env));
    const qemu = config.qemu ?? DEFAULT_QEMU;
    if (!existsSync(qemu)) problems.push(`the QEMU behind the launcher, ${qemu}, is missing`);
    // The launcher runs QEMU under the diverted path's name; through kvm_path, under the config's.
    const names = launcher.length ? launcher : [qemu];
    const kvm = hostHasKvm(process.env);
    for (const name of names.filter((n) => kvm && !nameTriesKvm(n))) {
      problems.push(`QEMU runs as ${name}, a name that does not try KVM, on a host with /dev/kvm`);
    }
    if (existsSync(qemu)) {
      try {
        qemuVersion = probeQemuVersion(qemu, node.cacheDir).join(".");
        running = runningMachines(node);
        machineTypes = versionedMachineTypes(node, qemu);
        problems.push(...deprecatedMachines(node, qemu, running));
      } catch (e) {
        if (!(e instanceof PluginError)) throw e;
        problems.push(`the QEMU behind the launcher, ${qemu}, does not answer: ${e.message}`);
      }
    }
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    problems.push(`the config is invalid: ${e.message}`);
  }
  return {
    version: PLUGIN_VERSION,
    build: buildOf(bundle),
    hooks,
    launcher,
    problems,
    ...(qemuVersion ? { qemu: qemuVersion } : {}),
    ...(machineTypes ? { machineTypes } : {}),
    ...(running ? { running } : {}),
  };
}
