import { mkdirSync } from "node:fs";
import { splitOptions } from "../ganeti/kvm-argv.js";
import { DEFAULT_PATHS } from "../ganeti/paths.js";
import { writeAtomically } from "../host/atomic-write.js";

/**
 * The sh front of hooks/qemu-launcher (src/launcher/qemu-launcher.sh) passes calls that are not
 * instance starts straight to the real QEMU, without starting Node, when this file says which QEMU
 * that is for the config file as it is now. Both sides use these names.
 */
export const PASS_THROUGH_FILE = "launcher-qemu";
/** Names the cache directory instead of DEFAULT_PATHS.cacheDir (tests). */
export const CACHE_DIR_VARIABLE = "GANETI_QEMU_BLOCKDEV_CACHE_DIR";

/** An instance start: Ganeti always passes `-name <instance>`; its probes never do. */
export const isInstanceStart = (argv: readonly string[]): boolean => splitOptions(argv).some((o) => o.name === "name");

/**
 * Records the real QEMU for the sh front: line 1 the binary, line 2 `present <config>` followed by
 * the config's text as it was checked, or `absent <config>`. The front passes a call on only while
 * the config reads the same (or is still absent): any edit, valid or not, goes through Node first.
 */
export function rememberPassThrough(
  qemu: string,
  config: { path: string; text: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): void {
  const dir = env[CACHE_DIR_VARIABLE] || DEFAULT_PATHS.cacheDir;
  try {
    mkdirSync(dir, { recursive: true });
    const state = config.text === undefined ? `absent ${config.path}\n` : `present ${config.path}\n${config.text}`;
    writeAtomically(`${dir}/${PASS_THROUGH_FILE}`, `${qemu}\n${state}`);
  } catch {
    // Without the record every probe starts Node: slower, never wrong.
  }
}
