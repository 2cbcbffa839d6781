import { DEFAULT_CACHE_DIR } from "../host/plugin-files.js";

/** Where Ganeti keeps things on a node (pathutils / hv_kvm); every one can be overridden by a flag. */
export interface NodePaths {
  /** Symlinks to each instance disk: <diskDir>/<instance>:<index>. */
  diskDir: string;
  /** QMP sockets: <qmpDir>/<instance>.qmp. */
  qmpDir: string;
  /** KVM runtime files: <runtimeDir>/<instance>.runtime. */
  runtimeDir: string;
  /** The plugin's own cache (QEMU version per binary). */
  cacheDir: string;
}

export const DEFAULT_PATHS: NodePaths = {
  diskDir: "/var/run/ganeti/instance-disks",
  qmpDir: "/var/run/ganeti/kvm-hypervisor/ctrl",
  runtimeDir: "/var/run/ganeti/kvm-hypervisor/conf",
  cacheDir: DEFAULT_CACHE_DIR,
};

export const diskLink = (p: NodePaths, instance: string, index: number) => `${p.diskDir}/${instance}:${index}`;
export const qmpSocket = (p: NodePaths, instance: string) => `${p.qmpDir}/${instance}.qmp`;
export const runtimeFile = (p: NodePaths, instance: string) => `${p.runtimeDir}/${instance}.runtime`;
/**
 * The hooks' per-instance locks: beside Ganeti's QMP sockets, one directory per node (two nodes
 * in one machine's namespaces keep theirs apart), made root's and private by the first hook.
 */
export const lockDirOf = (p: NodePaths) => `${p.qmpDir.replace(/\/[^/]*\/?$/, "")}/qemu-blockdev-locks`;
/**
 * The node's record of each instance's `disk-qos:` tags, written by the disk-qos hook and read by
 * the launcher at the next start: beside the QMP sockets (a tmpfs: a node's restart starts its
 * instances through Ganeti's start hooks again, which write it anew).
 */
export const qosDirOf = (qmpDir: string) => `${qmpDir.replace(/\/[^/]*\/?$/, "")}/qemu-blockdev-qos`;
