import { mkdirSync, statSync, utimesSync } from "node:fs";
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
 * Records the real QEMU for the sh front: line 1 the binary, line 2 `present <config>` or
 * `absent <config>`. A present config's mtime is copied onto the record, and the front trusts the
 * record only while both mtimes are equal: any edit of the config (valid or not) sends the next
 * call through Node again, which checks it.
 */
export function rememberPassThrough(qemu: string, config: string, env: Readonly<Record<string, string | undefined>>): void {
  const dir = env[CACHE_DIR_VARIABLE] || DEFAULT_PATHS.cacheDir;
  const file = `${dir}/${PASS_THROUGH_FILE}`;
  try {
    const st = statSync(config, { throwIfNoEntry: false });
    mkdirSync(dir, { recursive: true });
    writeAtomically(file, `${qemu}\n${st ? "present" : "absent"} ${config}\n`);
    if (st) utimesSync(file, st.atime, st.mtime);
  } catch {
    // Without the record every probe starts Node: slower, never wrong.
  }
}
