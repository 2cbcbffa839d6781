import { rmSync } from "node:fs";
import { InputError, PluginError } from "../errors.js";
import { DEFAULT_QEMU } from "../host/config.js";
import { linkHooks, unlinkHooks } from "../host/hook-links.js";
import { DEFAULT_HOOKS_DIR, PACKAGE } from "../host/plugin-files.js";
import { appendLog } from "../host/plugin-log.js";
import { reconcileInstance } from "../hotplug/reconcile.js";
import { runsHere, TIMEOUT_DEFAULTS } from "../hotplug/session.js";
import { diversionOf, enabledDiversions, install, uninstall } from "../node/diversion.js";
import { nodeStatus } from "../node/node-status.js";
import { type Args, COMMON_FLAGS, type Flag, nodePaths, PATH_FLAGS, parseArgs, str, usage } from "./args.js";
import { timeouts } from "./hotplug.js";
import { pluginRoot, runMain, writeFd } from "./program.js";

/** The command bears the package's name. */
const NAME = PACKAGE;

const SUMMARY = `Usage: ${NAME} COMMAND [options]

The operator's command of the Ganeti QEMU blockdev plugin, run on each node as root.

Commands:
  enable              link the hooks into Ganeti's hooks directory, and put the launcher in front of
                      the QEMU Ganeti runs: <path> is diverted (dpkg-divert --rename) to
                      <path>.distrib, <path> becomes a link to the launcher, and the config file
                      names <path>.distrib as the real QEMU. Instances started before reach the
                      launcher at their next restart, soft reboot or migration to this node.
                      Running VMs are not touched. Run it again at any time: it does what is missing.
  disable             undo both: the hook links go (but cluster-verify's, which then reports this node
                      as disabled in gnt-cluster verify), the binary gets its name back, the config
                      file forgets it. Running VMs are not touched.
  status              this node's plugin: version and build, hooks linked, the QEMU paths the
                      launcher stands in front of, the config; --json for the cluster-verify hook.
  reconcile INSTANCE  finish, for one running instance, what the hot-plug hooks finish at every run:
                      block nodes no device uses are deleted (left by Ganeti's own hot-remove, or by
                      an unplug the guest completed after disk-remove stopped waiting), and runtime-
                      file entries of hot-pluggable disks QEMU no longer has are dropped. On the
                      instance's primary node, when no Ganeti job works on it.

Each action is one line on stdout, and in the plugin's log.

Exit status: 0 done (or nothing to do); 1 failed (reconcile: or the instance does not run here);
2 invalid input.`;

const SETUP_FLAGS: Flag[] = [
  { name: "path", value: "PATH", help: `the QEMU binary Ganeti runs (its kvm_path; default ${DEFAULT_QEMU})` },
  { name: "hooks-dir", value: "DIR", help: `Ganeti's hooks directory (default ${DEFAULT_HOOKS_DIR})` },
  { name: "json", help: "status: as JSON (what the cluster-verify hook compares)" },
  { name: "hooks-only", help: "enable: link the hooks only (the launcher given to Ganeti as kvm_path instead)" },
  {
    name: "all",
    help: "disable: every QEMU path the launcher stands in front of, whatever --path enabled, and the cluster-verify hook too (the package's removal)",
  },
];
const RECONCILE_FLAGS: Flag[] = [
  { name: "qmp-timeout", value: "SECONDS", help: `each QMP command (default: timeouts.qmp, else ${TIMEOUT_DEFAULTS.qmp})` },
  {
    name: "lock-timeout",
    value: "SECONDS",
    help: `wait for a hook on the same instance (default: timeouts.lock, else ${TIMEOUT_DEFAULTS.lock})`,
  },
];
const FLAGS: Flag[] = [...COMMON_FLAGS.filter((f) => f.name !== "input"), ...SETUP_FLAGS, ...RECONCILE_FLAGS, ...PATH_FLAGS];

function setup(action: "enable" | "disable", args: Args): string[] {
  const path = str(args, "path") ?? DEFAULT_QEMU;
  if (!path.startsWith("/")) throw new InputError("BAD_ARGUMENT", `--path ${path}: must be an absolute path`);
  const root = pluginRoot();
  const hooksDir = str(args, "hooks-dir") ?? DEFAULT_HOOKS_DIR;
  const diversion = diversionOf(path, root);
  if (action === "disable") {
    // --all: every QEMU path this plugin's launcher stands in front of (the package's removal).
    const all = args.has("all");
    const diversions = all ? enabledDiversions(root) : [diversion];
    return [...unlinkHooks(root, hooksDir, all), ...diversions.flatMap(uninstall)];
  }
  const linked = linkHooks(root, hooksDir);
  if (args.has("hooks-only")) return linked.lines;
  try {
    return [...linked.lines, ...install(diversion)];
  } catch (e) {
    // No half enable: hooks that expect the launcher without it would hot-plug into -drive VMs.
    for (const link of linked.made) rmSync(link, { force: true });
    throw e;
  }
}

async function reconcile(name: string | undefined, args: Args): Promise<string[]> {
  if (!name || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name)) {
    throw new InputError(
      "BAD_ARGUMENT",
      `INSTANCE: one instance name is required (got ${JSON.stringify(name ?? "")}); see --help`,
    );
  }
  const paths = nodePaths(args);
  if (!runsHere(paths, name)) {
    throw new PluginError("NOT_RUNNING_HERE", `instance ${name} does not run on this node (no QMP socket in ${paths.qmpDir})`);
  }
  const timeout = timeouts(args);
  const actions = await reconcileInstance(name, { paths, qmpTimeoutMs: timeout("qmp"), lockTimeoutMs: timeout("lock") });
  for (const a of actions) appendLog(process.env, NAME, `${name} reconcile: ${a}`);
  return actions.length ? actions : [`${name}: nothing to reconcile`];
}

void runMain(NAME, async () => {
  const argv = process.argv.slice(2);
  // Words that are neither flags nor a flag's value: the command and its operand.
  const isWord = (a: string, i: number) => !a.startsWith("--") && !FLAGS.some((f) => f.value && argv[i - 1] === `--${f.name}`);
  const words = argv.filter(isWord);
  const args = parseArgs(
    argv.filter((a, i) => !isWord(a, i)),
    FLAGS,
  );
  const [command, operand, ...more] = words;
  if (args.has("help")) {
    writeFd(1, usage(NAME, SUMMARY, FLAGS));
    return 0;
  }
  if (command === undefined)
    throw new InputError("BAD_ARGUMENT", "COMMAND: one of enable, disable, status, reconcile is required; see --help");
  if (more.length > 0 || (command !== "reconcile" && operand !== undefined)) {
    throw new InputError(
      "BAD_ARGUMENT",
      `unexpected ${JSON.stringify([operand, ...more].filter(Boolean).join(" "))}; see --help`,
    );
  }
  let lines: string[];
  if (command === "enable" || command === "disable") {
    lines = setup(command, args);
    for (const l of lines) appendLog(process.env, NAME, `${command}: ${l}`);
  } else if (command === "reconcile") {
    lines = await reconcile(operand, args);
  } else if (command === "status") {
    const status = nodeStatus(pluginRoot(), str(args, "hooks-dir") ?? DEFAULT_HOOKS_DIR, __filename);
    lines = args.has("json")
      ? [JSON.stringify(status)]
      : [
          `version ${status.version} (build ${status.build})`,
          `hooks linked: ${status.hooks.join(", ") || "none"}`,
          `launcher in front of: ${status.launcher.join(", ") || "nothing (kvm_path, or disabled)"}`,
          ...status.problems.map((p) => `problem: ${p}`),
        ];
  } else {
    throw new InputError(
      "BAD_ARGUMENT",
      `COMMAND: ${JSON.stringify(command)} is not enable, disable, status or reconcile; see --help`,
    );
  }
  writeFd(1, lines.length ? `${lines.join("\n")}\n` : `${command}: nothing to do\n`);
  return 0;
});
