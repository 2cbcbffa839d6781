// The plugin in the real-Ganeti suites comes as an operator gets it: the Debian package built from
// this checkout (`npm run package`, which test:ganeti runs first), installed with `apt-get install
// ./…deb` and enabled with `ganeti-qemu-blockdev enable`; purged again at the end, which also
// undoes whatever a failed check left enabled (prerm runs `disable --all`).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { DEFAULT_CONFIG_PATH, PACKAGE, PACKAGE_ROOT } from "../../src/host/plugin-files.js";
import { type GanetiNode, gnt } from "../ganeti/harness.js";
import { ROOT } from "../helpers/hook.js";

/** Where the package puts things, as the node's processes see them. */
export const INSTALLED = {
  command: `/usr/sbin/${PACKAGE}`,
  launcher: `${PACKAGE_ROOT}/hooks/qemu-launcher`,
  hook: (hook: string) => `${PACKAGE_ROOT}/hooks/${hook}`,
};
/** Where a command runs: a node (its `enter` prefix), or this machine (`{ enter: [] }`). */
type Node = Pick<GanetiNode, "enter">;

/** This checkout's version (package.json). */
function checkoutVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** dist/ganeti-qemu-blockdev_<version>_all.deb of this checkout. */
const debOf = (version: string) => join(ROOT, "dist", `${PACKAGE}_${version}_all.deb`);

/** A command on the node; throws with its output when it fails. */
function onNode(node: Node, cmd: string, ...args: string[]): string {
  const r = gnt(node, cmd, ...args);
  if (r.code !== 0) throw new Error(`${[cmd, ...args].join(" ")}: exit ${r.code}: ${r.out}`);
  return r.out;
}

/** `apt-get install ./…deb` on the node whose root directory is `rootfs` as this machine sees it. */
function aptInstall(node: Node, rootfs: string, deb: string): void {
  const at = "/tmp/gqb-deb";
  mkdirSync(join(rootfs, at), { recursive: true });
  copyFileSync(deb, join(rootfs, at, basename(deb)));
  try {
    onNode(
      node,
      "env",
      "DEBIAN_FRONTEND=noninteractive",
      "apt-get",
      "-o",
      "DPkg::Lock::Timeout=900",
      "install",
      "-y",
      "-q",
      "--no-install-recommends",
      `${at}/${basename(deb)}`,
    );
  } finally {
    rmSync(join(rootfs, at), { recursive: true, force: true });
  }
}

/**
 * The package `npm run package` built from this checkout, installed. A config left there before (a
 * from-source install, an earlier run) would make dpkg ask about the conffile: it goes first (the
 * host's suites keep it with keepPluginFiles).
 */
export function installPackage(node: Node, rootfs = "/"): void {
  rmSync(join(rootfs, DEFAULT_CONFIG_PATH), { force: true });
  aptInstall(node, rootfs, debOf(checkoutVersion()));
}

/**
 * An upgrade: a newer build of the same tree (version <version>+upgrade1, built now) installed over
 * the one installed, as `apt install` of a newer package does. Returns the new version.
 */
export function upgradePackage(node: Node, rootfs = "/"): string {
  const version = `${checkoutVersion()}+upgrade1`;
  execFileSync(process.execPath, [join(ROOT, "scripts/package.mjs")], {
    env: { ...process.env, PACKAGE_VERSION: version },
    stdio: ["ignore", "ignore", "inherit"],
  });
  aptInstall(node, rootfs, debOf(version));
  return version;
}

/** The version of the package installed on the node ("" when none is). */
export function installedVersion(node: Node): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format, not JavaScript's
  const r = gnt(node, "dpkg-query", "-W", "-f=${Version}", PACKAGE);
  return r.code === 0 ? r.out.trim() : "";
}

/** `ganeti-qemu-blockdev ARGS` on the node: enable, disable, status. */
export function pluginCommand(node: Node, ...args: string[]): string {
  return onNode(node, INSTALLED.command, ...args);
}

/**
 * The package purged (`dpkg --purge`; to dpkg, unlike apt-get, a package that is not there is no
 * error): no diversion, hook link in /etc/ganeti/hooks, config or log of the plugin's left.
 */
export function purgePackage(node: Node): void {
  onNode(node, "dpkg", "--purge", PACKAGE);
}
