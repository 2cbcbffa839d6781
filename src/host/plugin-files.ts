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
export const DEFAULT_HOOKS_DIR = "/etc/ganeti/hooks";
/**
 * The plugin's own log, for what must outlive a call whose output nobody reads (src/host/plugin-log.ts).
 * /var/log/ganeti/*.log is rotated by Ganeti's logrotate.
 */
export const DEFAULT_LOG_PATH = "/var/log/ganeti/qemu-blockdev.log";
export const LOG_PATH_VARIABLE = "GANETI_QEMU_BLOCKDEV_LOG";

/**
 * The bill of materials: every program the plugin is made of, stated once. Each is
 * src/cli/<name>.ts, bundled to <dist>/<name>.cjs (scripts/bundle.mjs), started by an executable
 * in its kind's folder (scripts/gen-hooks.mjs), given V8 code caches from a run of its `cache`
 * kind (scripts/code-cache.mjs), and shipped by the package (scripts/package.mjs). A hook's `link`
 * is its name in Ganeti's hooks directory (or names: one per hook directory), which `enable` makes: Ganeti runs only executables
 * named ^[a-zA-Z0-9_-]+$, in name order within a directory. test/generated-hooks.build.test.ts
 * fails when a program lacks any of its parts.
 * Cache runs: `start` (an instance start in each input mode), `hotplug` (against a paused QEMU,
 * each input mode), `help` (its usage text), `launcher` (a Ganeti-like start rewritten).
 */
export const PROGRAMS = [
  { name: "instance-start", kind: "hook", cache: "start", link: "instance-start-pre.d/50-qemu-blockdev" },
  { name: "disk-add", kind: "hook", cache: "hotplug", link: "instance-modify-post.d/50-qemu-blockdev-add" },
  { name: "disk-remove", kind: "hook", cache: "hotplug", link: "instance-modify-post.d/51-qemu-blockdev-remove" },
  { name: "disk-grow", kind: "hook", cache: "hotplug", link: "disk-grow-post.d/50-qemu-blockdev-grow" },
  { name: "cdrom-change", kind: "hook", cache: "hotplug", link: "instance-modify-post.d/52-qemu-blockdev-cdrom" },
  { name: "cluster-verify", kind: "hook", cache: "help", link: "cluster-verify-post.d/50-qemu-blockdev-verify" },
  // Wherever a QEMU is about to start with the instance's disks (start, soft reboot, migration and
  // failover target) the node records the instance's disk-qos: tags for the launcher; after an add,
  // where QEMU started without them, the limits are set on the running VM.
  {
    name: "disk-qos",
    kind: "hook",
    cache: "help",
    link: [
      "instance-start-pre.d/49-qemu-blockdev-qos",
      "instance-reboot-pre.d/49-qemu-blockdev-qos",
      "instance-migrate-pre.d/49-qemu-blockdev-qos",
      "instance-failover-pre.d/49-qemu-blockdev-qos",
      "instance-add-post.d/49-qemu-blockdev-qos",
    ],
  },
  { name: "qemu-launcher", kind: "launcher", cache: "launcher" },
  { name: PACKAGE, kind: "command", cache: "help" },
] as const;

/** The launcher's name: its sh front, hooks/<LAUNCHER>, is what stands at Ganeti's QEMU path. */
export const LAUNCHER = "qemu-launcher";

/** The plugin's folders under its root, by what they hold (the launcher's sh front sits with the hooks). */
export const LAYOUT = { hook: "hooks", launcher: "hooks", command: "bin", bundles: "dist" } as const;

/** The hooks as Ganeti runs them: each a link in Ganeti's hooks directory to hooks/<hook> (a hook may have several). */
export const HOOK_LINKS: readonly { hook: string; link: string }[] = PROGRAMS.flatMap((p) =>
  "link" in p ? [p.link].flat().map((link) => ({ hook: p.name, link })) : [],
);
/** The hook `disable` leaves linked, so that `gnt-cluster verify` reports the node as disabled. */
export const KEPT_WHEN_DISABLED = "cluster-verify";
