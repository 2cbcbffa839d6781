/**
 * Where the plugin keeps its files on a node, and the variables that name other places (tests).
 * Stated here only: the TypeScript imports them, and scripts/gen-hooks.mjs writes them into the
 * launcher's sh front at build time. This file imports nothing, so that the build can read it alone.
 */
/** The Debian package's name, which the operator command bears too. */
export const PACKAGE = "ganeti-qemu-blockdev";
/** Where the package installs the plugin (code, bundles, hooks, the launcher). */
export const PACKAGE_ROOT = `/usr/lib/${PACKAGE}`;
/** The operator's settings. */
export const DEFAULT_CONFIG_PATH = `/etc/${PACKAGE}/config.json`;
export const CONFIG_PATH_VARIABLE = "GANETI_QEMU_BLOCKDEV_CONFIG";
/** The plugin's cache (QEMU versions, the launcher's record, links named for QEMU). */
export const DEFAULT_CACHE_DIR = `/var/cache/${PACKAGE}`;
export const CACHE_DIR_VARIABLE = "GANETI_QEMU_BLOCKDEV_CACHE_DIR";
/** The launcher's record of the real QEMU, in the cache, that its sh front reads. */
export const PASS_THROUGH_FILE = "launcher-qemu";
/** Where Ganeti runs hooks from: <dir>/<operation>-<phase>.d/<executable>. */
export const DEFAULT_HOOKS_DIR = "/etc/ganeti/hooks";
/**
 * The plugin's hooks as Ganeti runs them, each a link in Ganeti's hooks directory (`enable` makes
 * them). Ganeti runs only executables named ^[a-zA-Z0-9_-]+$, in name order within a directory.
 */
export const HOOK_LINKS = [
  { hook: "instance-start", link: "instance-start-pre.d/50-qemu-blockdev" },
  { hook: "disk-add", link: "instance-modify-post.d/50-qemu-blockdev-add" },
  { hook: "disk-remove", link: "instance-modify-post.d/51-qemu-blockdev-remove" },
  { hook: "disk-grow", link: "disk-grow-post.d/50-qemu-blockdev-grow" },
  { hook: "cdrom-change", link: "instance-modify-post.d/52-qemu-blockdev-cdrom" },
  { hook: "cluster-verify", link: "cluster-verify-post.d/50-qemu-blockdev-verify" },
] as const;
/** The hook `disable` leaves linked, so that `gnt-cluster verify` reports the node as disabled. */
export const KEPT_WHEN_DISABLED = "cluster-verify";
