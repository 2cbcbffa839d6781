// @ts-check
/** The hooks the plugin ships: src/cli/<hook>.ts, bundled to dist/<hook>.cjs, run as hooks/<hook>. */
export const HOOKS = /** @type {const} */ ([
  "instance-start",
  "disk-add",
  "disk-remove",
  "disk-grow",
  "cdrom-change",
  "cluster-verify",
]);

/**
 * Ganeti's kvm_path: hooks/qemu-launcher is a POSIX sh front (src/launcher/qemu-launcher.sh) that
 * runs hooks/qemu-launcher-node.cjs, the loader of dist/qemu-launcher.cjs, only for instance starts.
 */
export const LAUNCHER = "qemu-launcher";

/** Operator commands: src/cli/<name>.ts, run as bin/<name>. */
export const COMMANDS = /** @type {const} */ (["ganeti-qemu-blockdev"]);

/** Every program bundled to dist/<name>.cjs and loaded with V8's code cache. */
export const PROGRAMS = /** @type {const} */ ([...HOOKS, LAUNCHER, ...COMMANDS]);
