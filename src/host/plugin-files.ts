/**
 * Where the plugin keeps its files on a node, and the variables that name other places (tests).
 * Stated here only: the TypeScript imports them, and scripts/gen-hooks.mjs writes them into the
 * launcher's sh front at build time. This file imports nothing, so that the build can read it alone.
 */
/** The operator's settings. */
export const DEFAULT_CONFIG_PATH = "/etc/ganeti-qemu-blockdev/config.json";
export const CONFIG_PATH_VARIABLE = "GANETI_QEMU_BLOCKDEV_CONFIG";
/** The plugin's cache (QEMU versions, the launcher's record, links named for QEMU). */
export const DEFAULT_CACHE_DIR = "/var/cache/ganeti-qemu-blockdev";
export const CACHE_DIR_VARIABLE = "GANETI_QEMU_BLOCKDEV_CACHE_DIR";
/** The launcher's record of the real QEMU, in the cache, that its sh front reads. */
export const PASS_THROUGH_FILE = "launcher-qemu";
