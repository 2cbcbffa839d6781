import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { PluginError } from "../errors.js";
import type { PluginConfig } from "../generated/config.js";
import { writeAtomically } from "../host/atomic-write.js";
import { builtin } from "../host/builtin.js";
import { configPath, readConfigFile } from "../host/config.js";
import { LAUNCHER, LAYOUT, PACKAGE, PACKAGE_ROOT } from "../host/plugin-files.js";
import { DIVERTED_SUFFIX } from "../launcher/qemu-name.js";

/**
 * The launcher in place of the QEMU binary Ganeti already calls: dpkg's diversion of <path> to
 * <path>.distrib (in the same directory, where QEMU still finds its modules), <path> a link to the
 * launcher, and the config naming <path>.distrib as the real QEMU (the steps: setup.ts). Instances
 * started before then reach the launcher too, on a restart, a soft reboot or a live migration to
 * this node: Ganeti runs the binary an instance was started with.
 */

/**
 * dpkg-divert in the C locale, whatever the caller's: dpkg translates what it prints, and apt
 * passes LANG and LANGUAGE to the maintainer scripts that run `disable --all`.
 */
export function dpkgDivert(args: string[]): string {
  const { execFileSync } = builtin<typeof import("node:child_process")>("node:child_process");
  const env: Record<string, string | undefined> = { ...process.env, LC_ALL: "C", LANG: "C" };
  delete env["LANGUAGE"];
  try {
    return execFileSync("dpkg-divert", args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new PluginError("DPKG_DIVERT_FAILED", `dpkg-divert ${args.join(" ")}: ${(err.stderr || err.message).trim()}`);
  }
}

/** dpkg's record of a diversion of `path`: who made it and where to; undefined when there is none. */
export interface DiversionRecord {
  /** The package that made it, or LOCAL. */
  package: string;
  to: string;
  /** dpkg-divert's owner arguments to remove it as it was made (dpkg refuses another owner's). */
  owner: string[];
}
export function diversionRecord(path: string): DiversionRecord | undefined {
  // The machine-readable queries (no words to translate): the owner, then the diverted name.
  const pkg = dpkgDivert(["--listpackage", path]).trim();
  if (!pkg) return undefined;
  const to = dpkgDivert(["--truename", path]).trim();
  return { package: pkg, to, owner: pkg === "LOCAL" ? ["--local"] : ["--package", pkg] };
}

/** A diversion the plugin may have made: by its package, or locally (from a checkout). */
export const isOurs = (r: DiversionRecord) => r.package === "LOCAL" || r.package === PACKAGE;

/** Whether two paths are one QEMU: the same symlink, or the same file (a hard link). */
export function sameFile(a: string, b: string): boolean {
  const x = lstatSync(a, { throwIfNoEntry: false });
  const y = lstatSync(b, { throwIfNoEntry: false });
  if (!x || !y) return false;
  if (x.isSymbolicLink() || y.isSymbolicLink())
    return x.isSymbolicLink() && y.isSymbolicLink() && readlinkSync(a) === readlinkSync(b);
  return x.dev === y.dev && x.ino === y.ino;
}

/** The diversion of `path` to the launcher of the plugin at `root`. */
export function diversionOf(path: string, root: string): Diversion {
  const launcher = `${root}/${LAYOUT.launcher}/${LAUNCHER}`;
  const ours = () => lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true && readlinkSync(path) === launcher;
  // Installed by the package, the diversion is the package's (dpkg-divert --package), as Debian's
  // policy has it; from a checkout, the operator's own (--local).
  const owner = root === PACKAGE_ROOT ? ["--package", PACKAGE] : ["--local"];
  return { path, divertTo: `${path}${DIVERTED_SUFFIX}`, launcher, ours, owner };
}

/** The QEMU path Ganeti runs, its diverted name, and the launcher to put in front of it. */
export interface Diversion {
  path: string;
  divertTo: string;
  launcher: string;
  /** Whether the path is our link to the launcher now. */
  ours: () => boolean;
  /** dpkg-divert's owner arguments for a diversion made now. */
  owner: string[];
}

/** One line of `dpkg-divert --list` in the C locale: what is diverted where, and who owns it. */
const DIVERSION_LINE = /^(local )?diversion of (\S+) to (\S+)(?: by (\S+))?$/;

/** Every path with a diversion of ours to its `.distrib` name: what `disable --all` and `status` look at. */
export function divertedPaths(): string[] {
  return dpkgDivert(["--list"])
    .split("\n")
    .flatMap((line) => {
      const m = DIVERSION_LINE.exec(line.trim());
      if (!m || m[3] !== `${m[2]}${DIVERTED_SUFFIX}` || (m[4] !== undefined && m[4] !== PACKAGE)) return [];
      return [m[2] as string];
    });
}

/**
 * Writes the config file's text in one step, keeping what the operator gave it: its mode (the
 * package ships it 0644, and a non-root user of the diverted kvm reads it), and its place behind a
 * symlink (config management). undefined removes it.
 */
export function writeConfigText(text: string | undefined): void {
  const path = configPath(process.env);
  if (text === undefined) {
    rmSync(path, { force: true });
    return;
  }
  const real = existsSync(path) ? realpathSync(path) : path;
  const mode = (statSync(real, { throwIfNoEntry: false })?.mode ?? 0o644) & 0o7777;
  mkdirSync(dirname(real), { recursive: true, mode: 0o755 });
  writeAtomically(real, text, mode);
}

/** The config file with `qemu` set (or, with undefined, removed), checked by the same schema; its path. */
export function setQemu(config: PluginConfig, qemu: string | undefined): string {
  const next = { ...config };
  if (qemu === undefined) delete next.qemu;
  else next.qemu = qemu;
  writeConfigText(`${JSON.stringify(next, null, 2)}\n`);
  const path = configPath(process.env);
  readConfigFile(path);
  return path;
}
