import { PluginError } from "../errors.js";

/**
 * Machine types: Ganeti keeps an instance's versioned type (`-machine pc-i440fx-5.1`) in its runtime
 * file across migrations, and QEMU drops old ones (11.1 drops pc-i440fx/q35 <= 5.1; each goes six
 * years after its release). A start or an incoming migration on a QEMU without the type would fail
 * in QEMU's words; the launcher says which type, on which node's QEMU, and what to set. Pure.
 */

/** A versioned type of the two families Ganeti uses; others (pc, q35, aliases) always exist. */
export const isVersioned = (type: string): boolean => /^pc-(i440fx|q35)-\d/.test(type);

/** The machine types in `-machine help` (the first word of each line after the header), and those it marks deprecated. */
export function parseMachineHelp(help: string): { types: string[]; deprecated: string[] } {
  const lines = help.split("\n").slice(1).filter(Boolean);
  const first = (l: string) => l.split(/\s+/)[0] ?? "";
  return { types: lines.map(first), deprecated: lines.filter((l) => /\(deprecated\)\s*$/.test(l)).map(first) };
}

const versionOf = (t: string) => (/-(\d+)\.(\d+)$/.exec(t) ?? []).slice(1).map(Number);
const newer = (a: string, b: string) => {
  const [x, y] = [versionOf(a), versionOf(b)];
  return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0);
};

/** The refusal for a start whose machine type this QEMU lacks; undefined when it has it. */
export function missingMachineType(
  instance: string,
  type: string,
  types: readonly string[],
  qemu: string,
): PluginError | undefined {
  if (!isVersioned(type) || types.length === 0 || types.includes(type)) return undefined;
  const family = type.replace(/-\d[\d.]*$/, "");
  const newest = types
    .filter((t) => t.startsWith(`${family}-`) && isVersioned(t))
    .sort(newer)
    .at(-1);
  const set = newest
    ? `gnt-instance modify -H machine_version=${newest} ${instance}, then start it`
    : "set its machine_version to a type this QEMU has";
  return new PluginError(
    "MACHINE_TYPE_MISSING",
    `instance ${instance}: this node's QEMU (${qemu}) has no machine type ${type}, so the instance can neither start nor migrate here: ${set} (the guest sees the newer board from then on)`,
  );
}
