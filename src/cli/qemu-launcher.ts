import { existsSync, realpathSync } from "node:fs";
import { PluginError } from "../errors.js";
import { splitOptions } from "../ganeti/kvm-argv.js";
import { configPath, DEFAULT_QEMU, readConfigFile } from "../host/config.js";
import { pathKind } from "../host/path-kind.js";
import { appendLog } from "../host/plugin-log.js";
import { cacheDir, isInstanceStart, rememberPassThrough } from "../launcher/pass-through.js";
import { type QemuExec, qemuExec } from "../launcher/qemu-exec.js";
import { tcgWarning } from "../launcher/qemu-name.js";
import { rewriteArgv } from "../launcher/rewrite.js";
import { runMain, say, writeFd } from "./hook.js";

/**
 * The Node part of hooks/qemu-launcher, Ganeti's `kvm_path`, run by its sh front with QEMU's
 * arguments. An instance start (`-name` in the argv) gets every -drive replaced by -blockdev
 * (rewrite.ts); any other call (Ganeti's probes) is passed on unchanged, and remembered so that
 * the front passes the next ones on without starting Node.
 *
 * QEMU must run under the name stock Ganeti would have used (qemu-name.ts): it picks KVM or TCG by
 * it, and operators find VMs by it. POSIX sh cannot set argv[0], so a start that daemonizes (every
 * start Ganeti makes: -daemonize, the VM's pid read from -pidfile) is run from here with the stock
 * argv[0], its exit status passed on. Anything else is exec'd by the front, through a path whose
 * file name is the stock one (same accelerator rule, same comm, same messages): this prints its
 * shell words, and the front's own stdout is this process's fd 3.
 */

const NAME = "qemu-launcher";
/** The KVM device whose presence makes a QEMU that will not try KVM worth a warning (tests name another). */
const KVM_DEVICE_VARIABLE = "GANETI_QEMU_BLOCKDEV_KVM_DEVICE";
/** What the front tells this process; QEMU never sees them. */
const SELF_VARIABLE = "GQB_LAUNCHER_SELF";
const CALLED_AS_VARIABLE = "GQB_LAUNCHER_CALLED_AS";
/** The front's stdout, which QEMU writes to (this process's stdout is the front's capture). */
const FRONT_STDOUT = 3;

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

/** Runs QEMU as a child under the stock argv[0] and returns its exit status (a signal is passed on). */
function runQemu(exec: QemuExec, argv: string[], env: NodeJS.ProcessEnv): number {
  const { spawnSync } = process.getBuiltinModule("node:child_process") as typeof import("node:child_process");
  const childEnv = { ...env };
  delete childEnv[SELF_VARIABLE];
  delete childEnv[CALLED_AS_VARIABLE];
  const r = spawnSync(exec.path, argv, { argv0: exec.name, env: childEnv, stdio: [0, FRONT_STDOUT, 2] });
  if (r.error) throw new PluginError("QEMU_NOT_RUN", `cannot run ${exec.path}: ${r.error.message}`);
  if (r.signal) process.kill(process.pid, r.signal);
  return r.status ?? 1;
}

void runMain(NAME, () => {
  const argv = process.argv.slice(2);
  const env = process.env;
  const cfgPath = configPath(env);
  const { config, text } = readConfigFile(cfgPath);
  const qemu = config.qemu ?? DEFAULT_QEMU;
  // Installed in place of the QEMU binary (dpkg-divert), the default would run the launcher again.
  const self = env[SELF_VARIABLE];
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
  const calledAs = env[CALLED_AS_VARIABLE] || self || NAME;
  const exec = qemuExec(calledAs, qemu, cacheDir(env));
  if (!isInstanceStart(argv)) {
    rememberPassThrough(calledAs, exec.path, { path: cfgPath, text }, env);
    writeFd(1, `${[exec.path, ...argv].map(shellWord).join(" ")}\n`);
    return 0;
  }
  const out = rewriteArgv(argv, { pathKind });
  const options = splitOptions(argv);
  const warning = tcgWarning(exec.name, argv, existsSync(env[KVM_DEVICE_VARIABLE] || "/dev/kvm"));
  if (warning) warn(env, options.find((o) => o.name === "name")?.value ?? "", warning);
  if (options.some((o) => o.name === "daemonize")) return runQemu(exec, out, env);
  writeFd(1, `${[exec.path, ...out].map(shellWord).join(" ")}\n`);
  return 0;
});
