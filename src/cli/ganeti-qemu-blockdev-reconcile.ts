import { InputError } from "../errors.js";
import { appendLog } from "../host/plugin-log.js";
import { RECONCILE_COMMAND, reconcileInstance } from "../hotplug/reconcile.js";
import { runsHere, TIMEOUT_DEFAULTS } from "../hotplug/session.js";
import { COMMON_FLAGS, nodePaths, PATH_FLAGS, parseArgs } from "./args.js";
import { timeouts } from "./hotplug.js";
import { runMain, say, writeFd } from "./program.js";

const SUMMARY = `Usage: ${RECONCILE_COMMAND} [options] INSTANCE

Finishes, for one running instance, what the hot-plug hooks finish at every run: block nodes that
no device uses are deleted (left by Ganeti's own hot-remove, or by an unplug the guest completed
after disk-remove stopped waiting), and runtime-file entries of hot-pluggable disks that QEMU no
longer has are dropped. Run it on the instance's primary node, as root, when no Ganeti job is
working on the instance. Each action is one line on stdout.

Exit status: 0 done (or nothing to do); 1 failed, or the instance does not run here; 2 invalid
input.`;

const FLAGS = [
  ...COMMON_FLAGS.filter((f) => f.name !== "input"),
  { name: "qmp-timeout", value: "SECONDS", help: `each QMP command (default: timeouts.qmp, else ${TIMEOUT_DEFAULTS.qmp})` },
  {
    name: "lock-timeout",
    value: "SECONDS",
    help: `wait for a hook on the same instance (default: timeouts.lock, else ${TIMEOUT_DEFAULTS.lock})`,
  },
  ...PATH_FLAGS,
];

void runMain(RECONCILE_COMMAND, async () => {
  const argv = process.argv.slice(2);
  const names = argv.filter((a, i) => !a.startsWith("--") && !FLAGS.some((f) => f.value && argv[i - 1] === `--${f.name}`));
  const args = parseArgs(
    argv.filter((a) => !names.includes(a)),
    FLAGS,
  );
  if (args.has("help")) {
    writeFd(1, `${SUMMARY}\n`);
    return 0;
  }
  const [name, ...more] = names;
  if (!name || more.length > 0 || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name)) {
    throw new InputError(
      "BAD_ARGUMENT",
      `INSTANCE: one instance name is required (got ${JSON.stringify(names.join(" "))}); see --help`,
    );
  }
  const paths = nodePaths(args);
  if (!runsHere(paths, name)) {
    say(
      RECONCILE_COMMAND,
      "error [NOT_RUNNING_HERE]",
      `instance ${name} does not run on this node (no QMP socket in ${paths.qmpDir})`,
    );
    return 1;
  }
  const timeout = timeouts(args);
  const actions = await reconcileInstance(name, { paths, qmpTimeoutMs: timeout("qmp"), lockTimeoutMs: timeout("lock") });
  for (const a of actions) appendLog(process.env, RECONCILE_COMMAND, `${name} reconcile: ${a}`);
  writeFd(1, actions.length ? `${actions.join("\n")}\n` : `${name}: nothing to reconcile\n`);
  return 0;
});
