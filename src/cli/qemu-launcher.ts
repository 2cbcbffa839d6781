import { realpathSync } from "node:fs";
import { PluginError } from "../errors.js";
import { blockdevTrees, type KvmArgv, readKvmArgv } from "../ganeti/kvm-argv.js";
import { builtin } from "../host/builtin.js";
import { configPath, DEFAULT_QEMU, readConfigFile } from "../host/config.js";
import { checkBlockModules } from "../host/media-checks.js";
import { pathKind } from "../host/path-kind.js";
import { appendLog } from "../host/plugin-log.js";
import { probeMachineTypes, probeQemuOptions } from "../host/qemu-version.js";
import { isVersioned, missingMachineType, parseMachineHelp } from "../launcher/machine-types.js";
import { cacheDir, rememberPassThrough } from "../launcher/pass-through.js";
import { type QemuExec, qemuExec } from "../launcher/qemu-exec.js";
import { hostHasKvm, LAUNCHER_FILE_NAME, tcgWarning } from "../launcher/qemu-name.js";
import { bridgeRemoved, longFormBooleans, mayNeedBridge } from "../launcher/removed-options.js";
import { rewriteArgv } from "../launcher/rewrite.js";
import { type StartThrottles, startThrottles } from "../launcher/start-throttles.js";
import { runMain, say, writeFd } from "./program.js";

/**
 * The Node part of hooks/qemu-launcher, Ganeti's `kvm_path`, run by its sh front with QEMU's
 * arguments. An instance start (`-name` in the argv) gets every -drive replaced by -blockdev
 * (rewrite.ts); any other call (Ganeti's probes) is passed on unchanged, and remembered so that
 * the front passes the next ones on without starting Node.
 *
 * What this prints is one line of shell words, which the front execs: QEMU keeps the front's pid.
 * QEMU must run under the name stock Ganeti would have used (qemu-name.ts): it picks KVM or TCG by
 * it, and operators find VMs by it. POSIX sh cannot set argv[0], so the line is Perl's exec, which
 * can (perl-base is Essential in Debian; measured 3 ms, where a child spawned from Node costs 10),
 * when the name is not the path itself. The path exec'd has the stock file name (the process's comm).
 */

const NAME = LAUNCHER_FILE_NAME;
/** execvp(path, [argv0, args...]); the environment is Ganeti's, which holds no PERL5OPT. */
const EXEC_AS = ["/usr/bin/perl", "-e", 'exec {shift} @ARGV; die "qemu-launcher: cannot run $ARGV[0]: $!\n"'];

/** Single-quoted for `eval "exec …"`: nothing inside single quotes is special but the quote itself. */
const shellWord = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;

/**
 * Said on stderr (Ganeti shows it when a start fails) and in the plugin's log, where it stays when
 * the start succeeds and Ganeti discards the output.
 */
function warn(env: Readonly<Record<string, string | undefined>>, instance: string, message: string): void {
  say(NAME, "warning", message);
  appendLog(env, NAME, `${instance}: warning: ${message}`);
}

/**
 * An instance start's argv for QEMU: refused where it cannot work (a machine type or a block driver
 * this QEMU lacks), short-form booleans and removed options bridged, every -drive rewritten; each
 * change logged.
 */
function startArgv(line: KvmArgv & { instance: string }, qemu: string, name: string, env: NodeJS.ProcessEnv): string[] {
  const started = Date.now(); // not performance.now(): its first use costs ~1.4 ms
  const { instance, machine } = line;
  const log = (l: string) => appendLog(env, NAME, `${instance}: ${l}`);
  if (isVersioned(machine)) {
    const { types } = probeMachineTypes(qemu, cacheDir(env), parseMachineHelp);
    const missing = missingMachineType(instance, machine, types, qemu);
    if (missing) throw missing;
  }
  // QEMU is asked which options it has only where the argv holds one it may have removed.
  const long = longFormBooleans(line.opts);
  long.lines.forEach(log);
  let opts = long.opts;
  if (mayNeedBridge(opts)) {
    const bridged = bridgeRemoved(opts, new Set(probeQemuOptions(qemu, cacheDir(env))));
    opts = bridged.opts;
    bridged.lines.forEach(log);
  }
  const out = rewriteArgv({ ...line, opts }, { pathKind });
  checkBlockModules(instance, blockdevTrees(out));
  const warning = tcgWarning(name, line.opts, hostHasKvm(env));
  if (warning) warn(env, instance, warning);
  const drives = line.opts.filter((o) => o.name === "drive").length;
  const what = drives ? `${drives} -drive rewritten to -blockdev` : "no -drive, passed on as written";
  appendLog(env, NAME, `${instance} start: ${what} (${Date.now() - started} ms)`);
  return out;
}

/**
 * Runs QEMU as a child rather than exec'ing it, then sets the disks' I/O limits over QMP before
 * returning: Ganeti starts QEMU with -daemonize and -S, so QEMU's first process returns once the
 * VM exists, paused, and Ganeti lets the guest run only after kvm_path returns. The limits hold
 * before the guest's first I/O, set by block_set_io_throttle, which leaves the node graph as it is.
 * A limit that cannot be set fails the start, and the paused QEMU is killed: an instance whose
 * operator asked for limits never runs without them.
 */
async function startThrottled(
  exec: QemuExec,
  out: readonly string[],
  instance: string,
  throttles: StartThrottles,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  // QEMU's stdout goes to our stderr: our stdout is the shell words the front reads.
  const { spawnSync } = builtin<typeof import("node:child_process")>("node:child_process");
  const child = spawnSync(exec.path, out, { argv0: exec.name, stdio: ["inherit", 2, "inherit"] });
  if (child.error) throw new PluginError("QEMU_NOT_STARTED", `cannot run ${exec.path}: ${child.error.message}`);
  if (child.status !== 0) return child.status ?? 1;
  const { applyQemuThrottles } = await import("../qos/at-start.js");
  const lines = await applyQemuThrottles(throttles, instance);
  for (const l of lines) appendLog(env, NAME, `${instance}: I/O limits: ${l}`);
  return 0;
}

void runMain(NAME, async () => {
  const argv = process.argv.slice(2);
  const env = process.env;
  const cfgPath = configPath(env);
  const { config, text } = readConfigFile(cfgPath);
  const qemu = config.qemu ?? DEFAULT_QEMU;
  // Installed in place of the QEMU binary (dpkg-divert), the default would run the launcher again.
  const self = env["GQB_LAUNCHER_SELF"];
  let real: string | undefined;
  try {
    real = realpathSync(qemu);
  } catch (e) {
    throw new PluginError("QEMU_NOT_FOUND", `config file ${cfgPath} at $.qemu: ${qemu}: ${(e as Error).message}`);
  }
  if (self && real === self) {
    throw new PluginError(
      "QEMU_IS_LAUNCHER",
      `config file ${cfgPath} at $.qemu: ${qemu} is this launcher itself; name the real QEMU binary (e.g. the diverted /usr/bin/kvm.distrib)`,
    );
  }
  const calledAs = env["GQB_LAUNCHER_CALLED_AS"] || self || NAME;
  const exec = qemuExec(calledAs, qemu, cacheDir(env));
  const line = readKvmArgv(argv);
  let out = argv;
  if (line.instance !== undefined) {
    out = startArgv({ ...line, instance: line.instance }, qemu, exec.name, env);
    const throttles = startThrottles(line.instance, out);
    if (throttles?.daemonizes) return startThrottled(exec, out, line.instance, throttles, env);
    if (throttles) {
      warn(
        env,
        line.instance,
        "I/O limits not set at start (QEMU does not daemonize); run `ganeti-qemu-blockdev qos` once it runs",
      );
    }
  } else rememberPassThrough(calledAs, exec.path, { path: cfgPath, text }, env);
  // Perl only where argv[0] must differ from the path (a diverted QEMU, run through its link).
  const words = exec.name === exec.path ? [exec.path, ...out] : [...EXEC_AS, exec.path, exec.name, ...out];
  writeFd(1, `${words.map(shellWord).join(" ")}\n`);
  return 0;
});
