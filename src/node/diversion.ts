import { existsSync, lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { PluginError } from "../errors.js";
import type { PluginConfig } from "../generated/config.js";
import { writeAtomically } from "../host/atomic-write.js";
import { builtin } from "../host/builtin.js";
import { configPath, readConfigFile } from "../host/config.js";
import { PACKAGE, PACKAGE_ROOT } from "../host/plugin-files.js";
import { cacheDir } from "../launcher/pass-through.js";
import { qemuLinkDir } from "../launcher/qemu-exec.js";
import { DIVERTED_SUFFIX } from "../launcher/qemu-name.js";

/**
 * The launcher in place of the QEMU binary Ganeti already calls: the binary diverted
 * (dpkg-divert --rename, to <path>.distrib, in the same directory, where QEMU still finds its
 * modules), <path> a link to the launcher, and the config naming <path>.distrib as the real QEMU.
 * Instances started before then reach the launcher too, on a restart, a soft reboot or a live
 * migration to this node: Ganeti runs the binary an instance was started with.
 */

function dpkgDivert(args: string[]): string {
  const { execFileSync } = builtin<typeof import("node:child_process")>("node:child_process");
  try {
    return execFileSync("dpkg-divert", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new PluginError("DPKG_DIVERT_FAILED", `dpkg-divert ${args.join(" ")}: ${(err.stderr || err.message).trim()}`);
  }
}

/** The config file (as read) with `qemu` set (or, with undefined, removed), checked by the same schema. */
function setQemu(config: PluginConfig, qemu: string | undefined): string {
  const path = configPath(process.env);
  const next = { ...config };
  if (qemu === undefined) delete next.qemu;
  else next.qemu = qemu;
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeAtomically(path, `${JSON.stringify(next, null, 2)}\n`);
  readConfigFile(path);
  return path;
}

/** The config file's text as it is now (undefined: none), to put back if the install fails. */
function restoreConfig(text: string | undefined): void {
  const path = configPath(process.env);
  if (text === undefined) rmSync(path, { force: true });
  else writeAtomically(path, text);
}

/** The diversion of `path` to the launcher of the plugin at `root`. */
export function diversionOf(path: string, root: string): Diversion {
  const launcher = `${root}/hooks/qemu-launcher`;
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

/** One line of `dpkg-divert --list`: what is diverted where, and who owns it. */
const DIVERSION_LINE = /^(local )?diversion of (\S+) to (\S+)(?: by (\S+))?$/;

/** The diversions to a `.distrib` name that are ours: made locally, or by the package. */
function ourDiversions(): { path: string; divertTo: string; owner: string[] }[] {
  return dpkgDivert(["--list"])
    .split("\n")
    .flatMap((line) => {
      const m = DIVERSION_LINE.exec(line.trim());
      if (!m || m[3] !== `${m[2]}${DIVERTED_SUFFIX}` || (m[4] !== undefined && m[4] !== PACKAGE)) return [];
      return [{ path: m[2] as string, divertTo: m[3] as string, owner: m[1] ? ["--local"] : ["--package", PACKAGE] }];
    });
}

/**
 * Every QEMU path the launcher of the plugin at `root` stands in front of (a diversion of ours
 * whose path is a link to that launcher): what `disable --all` undoes, as the package's removal.
 */
export const enabledDiversions = (root: string): Diversion[] =>
  ourDiversions()
    .map((d) => diversionOf(d.path, root))
    .filter((d) => d.ours());

/** Diverts the QEMU binary and links the launcher in its place; each step undone if a later one fails. */
export function install({ path, divertTo, launcher, ours, owner }: Diversion): string[] {
  const done: string[] = [];
  // A bad config file stops the install before anything changes (exit 2, naming the field).
  const before = readConfigFile(configPath(process.env));
  // Each step's undo, run in reverse if a later step fails: a half install would leave Ganeti's
  // QEMU path pointing nowhere, or at a launcher that does not know the real binary.
  const undo: (() => void)[] = [];
  try {
    if (!ours()) {
      if (!existsSync(path))
        throw new PluginError(
          "NOTHING_TO_DIVERT",
          `${path} does not exist: there is no QEMU binary there to put the launcher in front of`,
        );
      dpkgDivert([...owner, "--rename", "--divert", divertTo, "--add", path]);
      undo.push(() => dpkgDivert([...owner, "--rename", "--remove", path]));
      done.push(`diverted ${path} to ${divertTo}`);
      const tmp = `${path}.gqb-tmp`;
      rmSync(tmp, { force: true });
      symlinkSync(launcher, tmp);
      renameSync(tmp, path);
      undo.push(() => rmSync(path));
      done.push(`${path} is now a link to ${launcher}`);
    } else {
      done.push(`${path} is the launcher already`);
    }
    undo.push(() => restoreConfig(before.text));
    done.push(`${setQemu(before.config, divertTo)} names ${divertTo} as the real QEMU`);
  } catch (e) {
    for (const step of undo.reverse()) step();
    if (e instanceof PluginError) throw e;
    throw new PluginError("INSTALL_FAILED", `${(e as Error).message}; nothing was changed (steps done before were undone)`);
  }
  return done;
}

/** Puts the QEMU binary back at its name; what install did and is still there is undone. */
export function uninstall({ path, divertTo, launcher, ours }: Diversion): string[] {
  const done: string[] = [];
  if (ours()) {
    rmSync(path);
    done.push(`removed the link ${path} -> ${launcher}`);
  }
  // Removed as its owner made it (dpkg-divert refuses another owner's).
  const made = ourDiversions().find((d) => d.path === path && d.divertTo === divertTo);
  if (made) {
    dpkgDivert([...made.owner, "--rename", "--remove", path]);
    done.push(`removed the diversion: ${divertTo} is ${path} again`);
  }
  const { config } = readConfigFile(configPath(process.env));
  if (config.qemu === divertTo) done.push(`${setQemu(config, undefined)} no longer names ${divertTo}`);
  // The launcher's link with the stock file name (qemu-exec.ts); running VMs hold the binary itself.
  const links = qemuLinkDir(cacheDir(process.env), divertTo);
  if (existsSync(links)) {
    rmSync(links, { recursive: true, force: true });
    done.push(`removed ${links}`);
  }
  return done;
}
