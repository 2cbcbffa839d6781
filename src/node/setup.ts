import { linkSync, lstatSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { PluginError } from "../errors.js";
import { configPath, readConfigFile } from "../host/config.js";
import { hooksWithLinks, linkedHooks, linkHooks, unlinkHooks } from "../host/hook-links.js";
import { HOOK_LINKS, KEPT_WHEN_DISABLED, PACKAGE } from "../host/plugin-files.js";
import { qemuLinkDir } from "../launcher/qemu-exec.js";
import {
  type Diversion,
  diversionOf,
  diversionRecord,
  divertedPaths,
  dpkgDivert,
  isOurs,
  sameFile,
  setQemu,
  writeConfigText,
} from "./diversion.js";

/**
 * The node's setup as one list of steps, in the order `enable` takes them; `disable` takes them in
 * reverse, and `status` asks each whether the node has it, to name a half state. Every state in
 * between is one a node can run in: Ganeti's QEMU path is never missing, the launcher never runs
 * without a config that names the real QEMU, and the hooks come last (hooks without the launcher
 * would hot-plug into instances it did not start).
 *
 *   copy     <path>.distrib, a second name for the QEMU binary at <path> (a hard link, or the same
 *            symlink), so that <path> never disappears
 *   divert   dpkg's record that <path> is diverted to <path>.distrib (no rename: the file is there)
 *   config   the config file names <path>.distrib as the real QEMU
 *   link     <path> replaced, in one rename, by a link to the launcher
 *   hooks    the hooks linked into Ganeti's hooks directory
 */
export interface Step {
  name: StepName;
  /** Whether the node has this step, as `enable` leaves it. */
  done(): boolean;
  /** Whether anything of this step is on the node (what `disable` removes). */
  left(): boolean;
  /** Makes the step: its lines, and the undo of exactly what it made. */
  apply(): { lines: string[]; undo: () => string[] };
  /** Removes what is left of the step: its lines. */
  remove(): string[];
}
export type StepName = "copy" | "divert" | "config" | "link" | "hooks";

const lexists = (path: string) => lstatSync(path, { throwIfNoEntry: false }) !== undefined;

/** A second name for `from` at `to`, made under a temporary name and renamed there in one step. */
function cloneTo(from: string, to: string): void {
  const tmp = `${to}.gqb-tmp`;
  rmSync(tmp, { force: true, recursive: true });
  if (lstatSync(from).isSymbolicLink()) symlinkSync(readlinkSync(from), tmp);
  else linkSync(from, tmp);
  renameSync(tmp, to);
}

/** The four steps that put the launcher in front of the QEMU at `d.path`. */
export function diversionSteps(d: Diversion, cache: string): Step[] {
  const { path, divertTo, launcher } = d;
  const diverted = () => {
    const r = diversionRecord(path);
    return r !== undefined && r.to === divertTo && isOurs(r);
  };
  const copy: Step = {
    name: "copy",
    done: () => lexists(divertTo) && (sameFile(path, divertTo) || d.ours() || diverted()),
    left: () => lexists(divertTo) && sameFile(path, divertTo),
    apply: () => {
      if (d.ours())
        throw new PluginError("QEMU_LOST", `${path} is the launcher and ${divertTo} is missing: reinstall QEMU, then enable`);
      if (!lexists(path))
        throw new PluginError(
          "NOTHING_TO_DIVERT",
          `${path} does not exist: there is no QEMU binary there to put the launcher in front of`,
        );
      if (lexists(divertTo))
        throw new PluginError("DISTRIB_TAKEN", `${divertTo} exists and is not ${path}: move it away, then enable`);
      cloneTo(path, divertTo);
      return { lines: [`${divertTo} is a second name for ${path}`], undo: () => copy.remove() };
    },
    remove: () => {
      rmSync(divertTo);
      return [`removed ${divertTo}, the second name of ${path}`];
    },
  };
  const divert: Step = {
    name: "divert",
    done: diverted,
    left: diverted,
    apply: () => {
      const r = diversionRecord(path);
      if (r !== undefined)
        throw new PluginError("DIVERTED_ELSEWHERE", `${path} is diverted to ${r.to} by ${r.package}: not ours to change`);
      dpkgDivert([...d.owner, "--no-rename", "--divert", divertTo, "--add", path]);
      return { lines: [`diverted ${path} to ${divertTo}`], undo: () => divert.remove() };
    },
    remove: () => {
      const r = diversionRecord(path);
      dpkgDivert([...(r?.owner ?? d.owner), "--no-rename", "--remove", path]);
      return [`removed the diversion of ${path}`];
    },
  };
  const named = () => readConfigFile(configPath(process.env)).config.qemu === divertTo;
  const config: Step = {
    name: "config",
    done: named,
    left: named,
    apply: () => {
      const before = readConfigFile(configPath(process.env));
      const file = setQemu(before.config, divertTo);
      return {
        lines: [`${file} names ${divertTo} as the real QEMU`],
        undo: () => {
          writeConfigText(before.text);
          return [`${file} as it was`];
        },
      };
    },
    remove: () => [`${setQemu(readConfigFile(configPath(process.env)).config, undefined)} no longer names ${divertTo}`],
  };
  const link: Step = {
    name: "link",
    done: d.ours,
    // A disable of old, killed between removing the link and the diversion, left no <path>.
    left: () => d.ours() || (!lexists(path) && lexists(divertTo)),
    apply: () => {
      const tmp = `${path}.gqb-tmp`;
      rmSync(tmp, { force: true, recursive: true });
      symlinkSync(launcher, tmp);
      renameSync(tmp, path);
      return { lines: [`${path} is now a link to ${launcher}`], undo: () => link.remove() };
    },
    remove: () => {
      cloneTo(divertTo, path);
      const lines = [`${path} is QEMU again (was the launcher)`];
      // The launcher's link with the stock file name (qemu-exec.ts); running VMs hold the binary itself.
      const links = qemuLinkDir(cache, divertTo);
      if (lexists(links)) {
        rmSync(links, { recursive: true, force: true });
        lines.push(`removed ${links}`);
      }
      return lines;
    },
  };
  return [copy, divert, config, link];
}

/**
 * The step that links the plugin's hooks: done when every hook is linked; what is left of it, the
 * links `disable` removes (cluster-verify's, which reports a disabled node, only with `all`).
 */
export function hookStep(root: string, hooksDir: string, all: boolean): Step {
  const linked = () => linkedHooks(root, hooksDir);
  const step: Step = {
    name: "hooks",
    done: () => HOOK_LINKS.every(({ hook }) => linked().includes(hook)),
    left: () => hooksWithLinks(root, hooksDir).some((h) => all || h !== KEPT_WHEN_DISABLED),
    apply: () => {
      const made = linkHooks(root, hooksDir);
      return {
        lines: made.lines,
        undo: () =>
          made.made.map((l) => {
            rmSync(l, { force: true });
            return `removed the hook link ${l}`;
          }),
      };
    },
    remove: () => unlinkHooks(root, hooksDir, all),
  };
  return step;
}

/**
 * A test's faults at chosen steps (GANETI_QEMU_BLOCKDEV_SETUP_FAULT=<kind>:<step>[,...]): `fail`
 * before the step, `kill` (SIGKILL) right after it, `undo-fail` in its undo. What a full disk, a failing
 * dpkg-divert or a kill -9 does at that point, for test/node-setup-faults.qemu.test.ts.
 */
const FAULT_VARIABLE = "GANETI_QEMU_BLOCKDEV_SETUP_FAULT";
function fault(kind: "fail" | "kill" | "undo-fail", step: StepName): void {
  if (!(process.env[FAULT_VARIABLE] ?? "").split(",").includes(`${kind}:${step}`)) return;
  if (kind === "kill") process.kill(process.pid, "SIGKILL");
  throw new Error(`injected fault (${kind}:${step})`);
}

/**
 * Takes the steps the node lacks, in order, saying each line as it is done. If one fails, what this
 * run made is undone in reverse. The node is always at a prefix of the steps, each prefix a state a
 * node runs in; so an undo that fails stops the undoing there (undoing an earlier step under a later
 * one that stays would break that: the config forgotten under the launcher's link). The error
 * thrown is the first one, with the undo that failed named in it; running enable or disable again
 * goes on from there.
 */
export function runEnable(steps: Step[], say: (line: string) => void): void {
  const undos: { name: StepName; undo: () => string[] }[] = [];
  try {
    for (const step of steps) {
      if (step.done()) continue;
      fault("fail", step.name);
      const made = step.apply();
      undos.push({ name: step.name, undo: made.undo });
      for (const l of made.lines) say(l);
      fault("kill", step.name);
    }
  } catch (e) {
    let rest = undos.length ? "; the steps done before were undone" : "; nothing was changed";
    for (const { name, undo } of undos.reverse()) {
      try {
        fault("undo-fail", name);
        for (const l of undo()) say(`undone: ${l}`);
      } catch (u) {
        rest = `; could not undo: ${name} (${(u as Error).message}), nor what comes before it: run enable or disable again`;
        break;
      }
    }
    if (e instanceof PluginError) throw new PluginError(e.code, `${e.message}${rest}`, e.exitCode);
    throw new PluginError("ENABLE_FAILED", `${(e as Error).message}${rest}`);
  }
}

/**
 * Removes what is left of each step, in reverse order, saying each line as it is done. It stops at
 * the first failure (a later step removed while an earlier one failed could leave Ganeti's path
 * without QEMU); running it again goes on from there.
 */
export function runDisable(steps: Step[], say: (line: string) => void): void {
  for (const step of [...steps].reverse()) {
    if (!step.left()) continue;
    try {
      fault("fail", step.name);
      for (const l of step.remove()) say(l);
    } catch (e) {
      const msg = `${step.name}: ${(e as Error).message}; run disable again`;
      throw e instanceof PluginError ? new PluginError(e.code, msg, e.exitCode) : new PluginError("DISABLE_FAILED", msg);
    }
    fault("kill", step.name);
  }
}

/** A half state: the steps a node has of `steps` and those it lacks, or undefined if all or none. */
export function halfState(steps: Step[]): { has: StepName[]; lacks: StepName[] } | undefined {
  const has = steps.filter((s) => s.done() || s.left()).map((s) => s.name);
  const lacks = steps.filter((s) => !s.done()).map((s) => s.name);
  return has.length && lacks.length ? { has, lacks } : undefined;
}

/** Where the node's setup acts: the plugin, Ganeti's hooks directory, and the QEMU path in front of which. */
export interface NodeSetup {
  root: string;
  hooksDir: string;
  path: string;
  /** The plugin's cache (--cache-dir, else GANETI_QEMU_BLOCKDEV_CACHE_DIR, else the default). */
  cacheDir: string;
}

/**
 * The QEMU paths whose diversion is the plugin's: the launcher at the path, the diversion made by
 * the package, or the config naming its `.distrib` (a half state of an older disable). A local
 * diversion of someone else's to a `.distrib` name is none of these. `also`: paths named by the
 * operator (or the default), whatever their state.
 */
export function pluginPaths(root: string, also: string[]): string[] {
  let named: string | undefined;
  try {
    named = readConfigFile(configPath(process.env)).config.qemu;
  } catch {
    // an invalid config names nothing here; status reports it on its own
  }
  const ours = divertedPaths().filter((p) => {
    const d = diversionOf(p, root);
    return d.ours() || diversionRecord(p)?.package === PACKAGE || named === d.divertTo;
  });
  return [...new Set([...ours, ...also])];
}

/** `enable`: the launcher in front of `path` (unless hooks only), then the hooks; each line said as done. */
export function enableNode(n: NodeSetup, hooksOnly: boolean, say: (line: string) => void): void {
  const hooks = hookStep(n.root, n.hooksDir, false);
  if (hooksOnly) {
    runEnable([hooks], say);
    return;
  }
  const steps = diversionSteps(diversionOf(n.path, n.root), n.cacheDir);
  // Said, since nodes that share /usr share one diversion: the second node's enable finds it made.
  if (steps.every((s) => s.done())) say(`${n.path} is the launcher already`);
  runEnable([...steps, hooks], say);
}

/** `disable`: the hooks (all of them with `all`), then the launcher at `path`, or at every path of ours with `all`. */
export function disableNode(n: NodeSetup, all: boolean, say: (line: string) => void): void {
  const hooks = hookStep(n.root, n.hooksDir, all);
  runDisable([hooks], say);
  for (const p of all ? pluginPaths(n.root, [n.path]) : [n.path])
    runDisable(diversionSteps(diversionOf(p, n.root), n.cacheDir), say);
}

/** What `status` says of the launcher: the paths it is in front of, and each half state by its path. */
export function launcherState(root: string, also: string[], cache: string): { launcher: string[]; half: string[] } {
  const launcher: string[] = [];
  const half: string[] = [];
  for (const p of pluginPaths(root, also)) {
    const steps = diversionSteps(diversionOf(p, root), cache);
    const h = halfState(steps);
    if (h)
      half.push(`${p} is half enabled: it has ${h.has.join(", ")}, lacks ${h.lacks.join(", ")}: run enable or disable again`);
    else if (steps.every((s) => s.done())) launcher.push(p);
  }
  return { launcher, half };
}
