import { existsSync, readdirSync } from "node:fs";
import { readKvmArgv } from "../ganeti/kvm-argv.js";
import { type NodePaths, qmpSocket } from "../ganeti/paths.js";
import { readRuntime } from "../ganeti/runtime.js";
import { probeMachineTypes, probeQemuVersion } from "../host/qemu-version.js";
import { isVersioned, parseMachineHelp } from "../launcher/machine-types.js";

/** Each running instance of this node (a runtime file and a QMP socket) with the machine type it was started with. */
export function runningMachines(paths: NodePaths): { instance: string; machine: string }[] {
  let files: string[];
  try {
    files = readdirSync(paths.runtimeDir).filter((f) => f.endsWith(".runtime"));
  } catch {
    return []; // no instance ever ran here
  }
  const running = files.map((f) => f.slice(0, -".runtime".length)).filter((i) => existsSync(qmpSocket(paths, i)));
  return running.flatMap((instance) => {
    try {
      const argv = (readRuntime(`${paths.runtimeDir}/${instance}.runtime`)?.[0] ?? []) as string[];
      return [{ instance, machine: readKvmArgv(argv.slice(1)).machine }];
    } catch {
      return [];
    }
  });
}

/** The versioned machine types (pc-i440fx-X.Y, pc-q35-X.Y) this QEMU has: what instances keep across migrations. */
export const versionedMachineTypes = (paths: NodePaths, qemu: string): string[] =>
  probeMachineTypes(qemu, paths.cacheDir, parseMachineHelp).types.filter(isVersioned);

/**
 * What gnt-cluster verify sees coming on this node: each running instance whose machine type the
 * node's QEMU deprecates (QEMU drops a versioned type some releases later, and the instance then
 * can neither restart nor migrate to a node with that QEMU). Ganeti keeps the type an instance was
 * started with in its runtime file. One line each, naming the QEMU's version.
 */
export function deprecatedMachines(paths: NodePaths, qemu: string, running = runningMachines(paths)): string[] {
  if (running.length === 0) return [];
  const { deprecated } = probeMachineTypes(qemu, paths.cacheDir, parseMachineHelp);
  const version = probeQemuVersion(qemu, paths.cacheDir).join(".");
  return running.flatMap(({ instance, machine }) =>
    deprecated.includes(machine)
      ? [
          `instance ${instance} runs machine type ${machine}, which this node's QEMU ${version} deprecates: set its machine_version to a current type before a QEMU upgrade drops it`,
        ]
      : [],
  );
}
