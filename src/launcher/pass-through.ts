import { DEFAULT_PATHS } from "../ganeti/paths.js";
import { writeAtomically } from "../host/atomic-write.js";
import { privateDir } from "../host/cache-dir.js";
import { CACHE_DIR_VARIABLE, PASS_THROUGH_FILE } from "../host/plugin-files.js";

/**
 * The sh front of hooks/qemu-launcher (src/launcher/qemu-launcher.sh) passes calls that are not
 * instance starts straight to the real QEMU, without starting Node, when this file says which QEMU
 * that is for the config file as it is now. Both sides use these names.
 */
export { CACHE_DIR_VARIABLE, PASS_THROUGH_FILE };

/** The cache directory the launcher uses: the variable's, or the default. */
export const cacheDir = (env: Readonly<Record<string, string | undefined>>): string =>
  env[CACHE_DIR_VARIABLE] || DEFAULT_PATHS.cacheDir;

/**
 * Records the real QEMU for the sh front: the path the launcher was called by (the record holds
 * for that one only), the path QEMU is exec'd by, then `present <config>` followed by the config's
 * text as it was checked, or `absent <config>`. The front passes a call on only while the
 * config reads the same (or is still absent): any edit, valid or not, goes through Node first.
 */
export function rememberPassThrough(
  calledAs: string,
  qemuPath: string,
  config: { path: string; text: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): void {
  const dir = cacheDir(env);
  if ([calledAs, qemuPath].some((l) => l.includes("\n"))) return; // one line each, or no record
  try {
    if (!privateDir(dir)) return; // a cache others could write: no record, every probe through Node
    const state = config.text === undefined ? `absent ${config.path}\n` : `present ${config.path}\n${config.text}`;
    writeAtomically(`${dir}/${PASS_THROUGH_FILE}`, `${calledAs}\n${qemuPath}\n${state}`);
  } catch {
    // Without the record every probe starts Node: slower, never wrong.
  }
}
