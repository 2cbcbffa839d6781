import { existsSync, realpathSync } from "node:fs";
import { PluginError } from "../errors.js";
import { splitOptions } from "../ganeti/kvm-argv.js";
import { configPath, DEFAULT_QEMU, readConfigFile } from "../host/config.js";
import { pathKind } from "../host/path-kind.js";
import { appendLog } from "../host/plugin-log.js";
import { cacheDir, isInstanceStart, rememberPassThrough } from "../launcher/pass-through.js";
import { qemuExec } from "../launcher/qemu-exec.js";
import { tcgWarning } from "../launcher/qemu-name.js";
import { rewriteArgv } from "../launcher/rewrite.js";
import { runMain, say, writeFd } from "./hook.js";

/**
 * The Node part of hooks/qemu-launcher, Ganeti's `kvm_path`. The bash front runs it with QEMU's
 * arguments and execs what it prints: one line of shell words for `exec`, `-a <name> <real QEMU>
 * <argv>`. The name is the one stock Ganeti would have run QEMU by (qemu-name.ts).
 * An instance start (`-name` in the argv) gets every -drive replaced by -blockdev (rewrite.ts);
 * any other call (Ganeti's probes) is passed on unchanged, and remembered so that the front
 * passes the next ones on without starting Node.
 */

const NAME = "qemu-launcher";
/** The KVM device whose presence makes a QEMU that will not try KVM worth a warning (tests name another). */
const KVM_DEVICE_VARIABLE = "GANETI_QEMU_BLOCKDEV_KVM_DEVICE";

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

void runMain(NAME, () => {
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
  let out: string[];
  if (isInstanceStart(argv)) {
    out = rewriteArgv(argv, { pathKind });
    const warning = tcgWarning(exec.name, argv, existsSync(env[KVM_DEVICE_VARIABLE] || "/dev/kvm"));
    if (warning) warn(env, splitOptions(argv).find((o) => o.name === "name")?.value ?? "", warning);
  } else {
    out = argv;
    rememberPassThrough(calledAs, exec, { path: cfgPath, text }, env);
  }
  writeFd(1, `-a ${[exec.name, exec.path, ...out].map(shellWord).join(" ")}\n`);
  return 0;
});
