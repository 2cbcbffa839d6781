import type { ArgvOption } from "../ganeti/kvm-argv.js";

/**
 * Options Ganeti 3.0 writes (and 3.1 falls back to, where it misreads QEMU >= 10.2's -run-with help)
 * that newer QEMUs removed, each rewritten into its replacement, with the same effect: chrooted,
 * as the user, ACPI off. Only where the QEMU behind the launcher lacks the old option (asked of its
 * `-help`), so that on a QEMU that still has it the argv is Ganeti's as written. Pure.
 *
 *   -chroot DIR   removed in QEMU 9.0    -run-with chroot=DIR
 *   -runas USER   removed in QEMU 10.0   -run-with user=USER
 *   -no-acpi      removed in QEMU 9.0    acpi=off in -machine
 */
export const BRIDGED = ["chroot", "runas", "no-acpi"] as const;

/** Whether an argv holds an option the bridge may have to rewrite (the launcher asks QEMU only then). */
export const mayNeedBridge = (opts: readonly ArgvOption[]): boolean =>
  opts.some((o) => (BRIDGED as readonly string[]).includes(o.name));

/** The options with each removed one rewritten, and one line per rewrite for the log. */
export function bridgeRemoved(opts: readonly ArgvOption[], has: ReadonlySet<string>): { opts: ArgvOption[]; lines: string[] } {
  const lacks = (name: string) => !has.has(name) && opts.some((o) => o.name === name);
  const runWith: string[] = [];
  const lines: string[] = [];
  const drop = new Set<ArgvOption>();
  for (const o of opts) {
    if (o.name === "chroot" && lacks("chroot") && o.value !== undefined) {
      runWith.push(`chroot=${o.value}`);
      lines.push(`-chroot ${o.value} (removed from this QEMU) as -run-with chroot=${o.value}`);
      drop.add(o);
    } else if (o.name === "runas" && lacks("runas") && o.value !== undefined) {
      runWith.push(`user=${o.value}`);
      lines.push(`-runas ${o.value} (removed from this QEMU) as -run-with user=${o.value}`);
      drop.add(o);
    }
  }
  const noAcpi = lacks("no-acpi");
  if (noAcpi) lines.push("-no-acpi (removed from this QEMU) as acpi=off in -machine");
  const out: ArgvOption[] = [];
  const added = (name: string, value: string): ArgvOption => ({ name, word: `-${name}`, value, at: -1 });
  let machineDone = false;
  for (const o of opts) {
    if (drop.has(o) || (noAcpi && o.name === "no-acpi")) continue;
    if (noAcpi && !machineDone && (o.name === "machine" || o.name === "M") && o.value !== undefined) {
      out.push({ ...o, value: `${o.value},acpi=off` });
      machineDone = true;
      continue;
    }
    out.push(o);
  }
  if (noAcpi && !machineDone) out.push(added("machine", "acpi=off"));
  // One -run-with: QEMU takes its keys together (a value holding a comma would need doubling;
  // Ganeti's chroot directories and user names hold none).
  if (runWith.length) out.push(added("run-with", runWith.join(",")));
  return { opts: out, lines };
}
