import { InputError, PluginError } from "../errors.js";
import { normalUuid } from "../ganeti/uuid.js";
import { validateInstanceName } from "../generated/validators.js";
import { DEFAULT_QEMU } from "../host/config.js";
import { DEFAULT_HOOKS_DIR, PACKAGE } from "../host/plugin-files.js";
import { appendLog } from "../host/plugin-log.js";
import { reconcileInstance } from "../hotplug/reconcile.js";
import { runsHere, TIMEOUT_DEFAULTS } from "../hotplug/session.js";
import { nodeStatus } from "../node/node-status.js";
import { disableNode, enableNode, type NodeSetup } from "../node/setup.js";
import { instanceQos, type QosRequest } from "../qos/instance.js";
import { withLimits } from "../qos/running.js";
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
  qos INSTANCE        the per-disk I/O limits of the instance's disk-qos: tags, set on the running VM
                      (one line per change) and recorded for its next start; then the limits QEMU
                      enforces, per disk. Ganeti runs no hook when tags change: run this after
                      gnt-instance add-tags/remove-tags. On the master the tags are Ganeti's, and an
                      instance running on another node is handed to it (gnt-cluster command);
                      elsewhere, --tags and --disk-uuids, or what the last hook recorded on the node.

Each action is one line on stdout, and in the plugin's log.

Exit status: 0 done (or nothing to do); 1 failed (reconcile, qos: or the instance does not run here);
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
const QOS_FLAGS: Flag[] = [
  { name: "tags", value: "'TAG ...'", help: "qos: the instance's tags (space-separated), in place of Ganeti's" },
  { name: "disk-uuids", value: "UUID,...", help: "qos: the instance's disk uuids by index, in place of Ganeti's" },
];
const FLAGS: Flag[] = [
  ...COMMON_FLAGS.filter((f) => f.name !== "input"),
  ...SETUP_FLAGS,
  ...RECONCILE_FLAGS,
  ...QOS_FLAGS,
  ...PATH_FLAGS,
];

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

/** The instance operand, by the rule Ganeti's instance names follow (schemas/common.schema.json). */
function instanceOperand(name: string | undefined): string {
  if (!name || !validateInstanceName(name)) {
    throw new InputError(
      "BAD_ARGUMENT",
      `INSTANCE: one instance name is required, a host name (letters, digits, '-', '.'; at most 253 characters) (got ${JSON.stringify(name ?? "")}); see --help`,
    );
  }
  return name;
}

async function reconcile(operand: string | undefined, args: Args): Promise<string[]> {
  const name = instanceOperand(operand);
  const paths = nodePaths(args);
  if (!runsHere(paths, name)) {
    throw new PluginError("NOT_RUNNING_HERE", `instance ${name} does not run on this node (no QMP socket in ${paths.qmpDir})`);
  }
  const timeout = timeouts(args);
  const actions = await reconcileInstance(name, { paths, qmpTimeoutMs: timeout("qmp"), lockTimeoutMs: timeout("lock") });
  for (const a of actions) appendLog(process.env, NAME, `${name} reconcile: ${a}`);
  return actions.length ? actions : [`${name}: nothing to reconcile`];
}

function qos(operand: string | undefined, args: Args, say: (l: string) => void): Promise<string[]> {
  const instance = instanceOperand(operand);
  const timeout = timeouts(args);
  const req: QosRequest = { instance, paths: nodePaths(args), qmpTimeoutMs: timeout("qmp"), lockTimeoutMs: timeout("lock") };
  const tags = str(args, "tags");
  if (tags !== undefined) req.tags = tags.split(/[\s,]+/).filter(Boolean);
  const disks = str(args, "disk-uuids");
  if (disks !== undefined) {
    req.disks = disks.split(",").filter(Boolean).map(normalUuid);
    const bad = req.disks.find((u) => !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(u));
    if (bad !== undefined) throw new InputError("BAD_ARGUMENT", `--disk-uuids: ${JSON.stringify(bad)} is not a disk uuid`);
  }
  return instanceQos(req, say);
}

async function status(args: Args): Promise<string[]> {
  const paths = [str(args, "path") ?? DEFAULT_QEMU];
  const node = nodePaths(args);
  const status = nodeStatus(pluginRoot(), str(args, "hooks-dir") ?? DEFAULT_HOOKS_DIR, __filename, paths, node);
  // The master's verify compares each running instance's limits with its tags.
  if (args.has("json")) return [JSON.stringify(await withLimits(status, node.qmpDir))];
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
  status: { run: (args) => status(args) },
  reconcile: { operand: true, run: (args, _say, operand) => reconcile(operand, args) },
  qos: { operand: true, run: (args, say, operand) => qos(operand, args, say) },
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
