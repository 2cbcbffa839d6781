import { existsSync } from "node:fs";
import { basename } from "node:path";
import type { ArgvOption } from "../ganeti/kvm-argv.js";

/**
 * The name QEMU runs under, and why it matters. When the command line chooses no accelerator,
 * QEMU picks one by the name it was started as (argv[0]; `configure_accelerators()` in vl.c, the
 * same in QEMU 7.2 and 10.0): a name ending in "kvm" tries KVM first, any other name takes TCG.
 * Ganeti passes no accelerator unless kvm_flag is set, so on a stock cluster it is the name
 * /usr/bin/kvm that gives every VM its KVM. The launcher therefore runs QEMU under the name stock
 * Ganeti would have run it by, and through a path with that file name, so that the process's comm
 * (what `pgrep -x kvm` and `ps -C kvm` match) is the stock one too.
 */

/** The file name of the launcher's sh front (hooks/qemu-launcher): Ganeti's kvm_path names it. */
export const LAUNCHER_FILE_NAME = "qemu-launcher";
/** The suffix dpkg-divert gives the binary the launcher replaced (`--divert <path>.distrib`). */
export const DIVERTED_SUFFIX = ".distrib";

/**
 * The argv[0] stock Ganeti would have given QEMU. Called by another name than its own (a QEMU
 * path dpkg-divert turned into a link to the launcher), that name is the one Ganeti used. Called
 * as itself (Ganeti's kvm_path is the launcher), stock Ganeti would have run the config's QEMU;
 * a diverted binary is named as it was before its diversion.
 */
export function stockName(calledAs: string, configQemu: string): string {
  if (basename(calledAs) !== LAUNCHER_FILE_NAME) return calledAs;
  return configQemu.endsWith(DIVERTED_SUFFIX) ? configQemu.slice(0, -DIVERTED_SUFFIX.length) : configQemu;
}

/** The KVM device whose presence makes a QEMU that will not try KVM worth a warning (tests name another). */
const KVM_DEVICE_VARIABLE = "GANETI_QEMU_BLOCKDEV_KVM_DEVICE";
/** Whether this host has KVM: where a QEMU that would not try it loses it. */
export const hostHasKvm = (env: Readonly<Record<string, string | undefined>>): boolean =>
  existsSync(env[KVM_DEVICE_VARIABLE] || "/dev/kvm");

/** Whether QEMU started as `name` tries KVM before TCG when the command line chooses no accelerator. */
export const nameTriesKvm = (name: string): boolean => basename(name).endsWith("kvm");

/**
 * Whether the command line chooses the accelerator itself (-enable-kvm, -accel, or accel= in
 * -machine/-M): then QEMU follows it and the name decides nothing.
 */
export function choosesAccelerator(opts: readonly ArgvOption[]): boolean {
  return opts.some(
    (o) =>
      o.name === "enable-kvm" ||
      o.name === "accel" ||
      ((o.name === "machine" || o.name === "M") && /(?:^|,)accel=/.test(o.value ?? "")),
  );
}

/**
 * The warning for a host where KVM is there but QEMU, as started, will not try it: not refused
 * (some operators choose TCG on purpose), but said where the operator looks.
 */
export function tcgWarning(name: string, opts: readonly ArgvOption[], hostHasKvm: boolean): string | undefined {
  if (!hostHasKvm || nameTriesKvm(name) || choosesAccelerator(opts)) return undefined;
  return (
    `this host has /dev/kvm, but QEMU runs as ${name}, a name that does not end in "kvm", and the command line ` +
    `chooses no accelerator: QEMU will use TCG, not KVM (name a QEMU ending in "kvm", such as /usr/bin/kvm, ` +
    `in the config's qemu, or set kvm_flag=enabled)`
  );
}
