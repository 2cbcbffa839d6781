import { InputError, PluginError } from "../errors.js";
import { validateInstanceName } from "../generated/validators.js";
import { DEFAULT_QEMU } from "../host/config.js";
import { DEFAULT_HOOKS_DIR, PACKAGE } from "../host/plugin-files.js";
import { appendLog } from "../host/plugin-log.js";
import { reconcileInstance } from "../hotplug/reconcile.js";
import { runsHere, TIMEOUT_DEFAULTS } from "../hotplug/session.js";
import { nodeStatus } from "../node/node-status.js";
import { disableNode, enableNode, type NodeSetup } from "../node/setup.js";
import { type Args, COMMON_FLAGS, type Flag, nodePaths, PATH_FLAGS, parseArgs, str, usage } from "./args.js";
import { timeouts } from "./hotplug.js";
import { pluginRoot, runMain, writeFd } from "./program.js";

/** The command bears the package's name. */
const NAME = PACKAGE;

const SUMMARY = `Usage: ${NAME} COMMAND [options]

The operator's command of the Ganeti QEMU blockdev plugin, run on each node as root.

Commands:
  enable              link the hooks into Ganeti's hooks directory, and put the launcher in front of
                      the QEMU Ganeti runs: <path> gets a second name, <path>.distrib, to which
                      dpkg-divert diverts it; the config file names <path>.distrib as the real
                      QEMU; then <path> becomes, in one rename, a link to the launcher (so that
                      <path> runs QEMU at every point in between). Instances started before reach the
                      launcher at their next restart, soft reboot or migration to this node.
                      Running VMs are not touched. Each step is said as it is done; if one fails,
                      the steps this run made are undone in reverse. Run it again at any time,
                      also after it was interrupted: it does what is missing.
  disable             undo both: the hook links go (but cluster-verify's, which then reports this node
                      as disabled in gnt-cluster verify), the binary gets its name back, the config
                      file forgets it. Running VMs are not touched. Interrupted, run it again: it
                      removes what is left. Ganeti's QEMU path is never without QEMU in between.
  status              this node's plugin: version and build, hooks linked, the QEMU paths the
                      launcher stands in front of, the config, a half-made enable or disable;
                      --json for the cluster-verify hook.
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

/** Where enable and disable act: the plugin, Ganeti's hooks directory, the QEMU path (checked). */
function nodeSetup(args: Args): NodeSetup {
  const path = str(args, "path") ?? DEFAULT_QEMU;
  if (!path.startsWith("/")) throw new InputError("BAD_ARGUMENT", `--path ${path}: must be an absolute path`);
  return { root: pluginRoot(), hooksDir: str(args, "hooks-dir") ?? DEFAULT_HOOKS_DIR, path, cacheDir: nodePaths(args).cacheDir };
}

/** Each line on stdout and in the plugin's log as the step is done: a failure later loses none of them. */
const sayDone = (command: string) => (line: string) => {
  writeFd(1, `${line}\n`);
  appendLog(process.env, NAME, `${command}: ${line}`);
};

async function reconcile(name: string | undefined, args: Args): Promise<string[]> {
  // The rule Ganeti's instance names follow in the hook environment (schemas/common.schema.json).
  if (!name || !validateInstanceName(name)) {
    throw new InputError(
      "BAD_ARGUMENT",
      `INSTANCE: one instance name is required, a host name (letters, digits, '-', '.'; at most 253 characters) (got ${JSON.stringify(name ?? "")}); see --help`,
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

function status(args: Args): string[] {
  const paths = [str(args, "path") ?? DEFAULT_QEMU];
  const status = nodeStatus(pluginRoot(), str(args, "hooks-dir") ?? DEFAULT_HOOKS_DIR, __filename, paths, nodePaths(args));
  if (args.has("json")) return [JSON.stringify(status)];
  return [
    `version ${status.version} (build ${status.build})${status.qemu ? `, QEMU ${status.qemu}` : ""}`,
    `hooks linked: ${status.hooks.join(", ") || "none"}`,
    `launcher in front of: ${status.launcher.join(", ") || "nothing (kvm_path, or disabled)"}`,
    ...status.problems.map((p) => `problem: ${p}`),
  ];
}

/**
 * The subcommands: each says its lines as it goes (`say`), or returns them to be printed. One
 * takes an operand (reconcile's instance).
 */
const COMMANDS: Record<
  string,
  { operand?: true; run: (args: Args, say: (l: string) => void, operand?: string) => Promise<string[]> }
> = {
  enable: {
    run: async (args, say) => {
      enableNode(nodeSetup(args), args.has("hooks-only"), say);
      return [];
    },
  },
  disable: {
    run: async (args, say) => {
      disableNode(nodeSetup(args), args.has("all"), say);
      return [];
    },
  },
  status: { run: async (args) => status(args) },
  reconcile: { operand: true, run: (args, _say, operand) => reconcile(operand, args) },
};

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
  const names = Object.keys(COMMANDS).join(", ");
  if (command === undefined) throw new InputError("BAD_ARGUMENT", `COMMAND: one of ${names} is required; see --help`);
  const entry = COMMANDS[command];
  if (!entry) throw new InputError("BAD_ARGUMENT", `COMMAND: ${JSON.stringify(command)} is not one of ${names}; see --help`);
  if (more.length > 0 || (!entry.operand && operand !== undefined)) {
    throw new InputError(
      "BAD_ARGUMENT",
      `unexpected ${JSON.stringify([operand, ...more].filter(Boolean).join(" "))}; see --help`,
    );
  }
  let said = 0;
  const say = sayDone(command);
  const lines = await entry.run(
    args,
    (l) => {
      said++;
      say(l);
    },
    operand,
  );
  if (lines.length) writeFd(1, `${lines.join("\n")}\n`);
  else if (!said) writeFd(1, `${command}: nothing to do\n`);
  return 0;
});
