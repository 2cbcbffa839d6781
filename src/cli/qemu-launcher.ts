import { realpathSync } from "node:fs";
import { PluginError } from "../errors.js";
import { configPath, DEFAULT_QEMU, readConfigFile } from "../host/config.js";
import { pathKind } from "../host/path-kind.js";
import { isInstanceStart, rememberPassThrough } from "../launcher/pass-through.js";
import { rewriteArgv } from "../launcher/rewrite.js";
import { runMain, writeFd } from "./hook.js";

/**
 * The Node part of hooks/qemu-launcher, Ganeti's `kvm_path`. The POSIX sh front runs it with
 * QEMU's arguments and execs what it prints: one line of shell words, the real QEMU and its argv.
 * An instance start (`-name` in the argv) gets every -drive replaced by -blockdev (rewrite.ts);
 * any other call (Ganeti's probes) is passed on unchanged, and remembered so that the sh front
 * passes the next ones on without starting Node.
 */

/** Single-quoted for `eval "exec …"`: nothing inside single quotes is special but the quote itself. */
const shellWord = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;

void runMain("qemu-launcher", () => {
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
  let out: string[];
  if (isInstanceStart(argv)) {
    out = rewriteArgv(argv, { pathKind });
  } else {
    out = argv;
    rememberPassThrough(qemu, { path: cfgPath, text }, env);
  }
  writeFd(1, `${[qemu, ...out].map(shellWord).join(" ")}\n`);
  return 0;
});
