import { realpathSync } from "node:fs";

/**
 * Which Ganeti runs on this node, from its package: /usr/share/ganeti/default links (through
 * /etc/ganeti/share) to /usr/share/ganeti/<major.minor>. The hook environment does not say: 3.0
 * and 3.1 export the same variables. GANETI_QEMU_BLOCKDEV_GANETI_SHARE names another directory
 * (tests: their recorded environments come from a given release).
 */
export const GANETI_SHARE_VARIABLE = "GANETI_QEMU_BLOCKDEV_GANETI_SHARE";
const GANETI_SHARE = "/usr/share/ganeti/default";

export function ganetiRelease(env: Readonly<Record<string, string | undefined>>): [number, number] | undefined {
  const share = env[GANETI_SHARE_VARIABLE] || GANETI_SHARE;
  let path = share;
  try {
    path = realpathSync(share);
  } catch {
    // a directory named for a release need not exist to say which one it is
  }
  const m = /\/(\d+)\.(\d+)$/.exec(path);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Ganeti 3.1 hot-plugs by default (`--hotplug` is gone, `--no-hotplug` opts out, and the hook
 * environment does not say which): a disk it did not attach is one it chose not to. 3.0 attaches
 * only with `--hotplug`. Unknown (no Ganeti package): as 3.0.
 */
export function ganetiHotplugsByDefault(env: Readonly<Record<string, string | undefined>>): boolean {
  const r = ganetiRelease(env);
  return r !== undefined && (r[0] > 3 || (r[0] === 3 && r[1] >= 1));
}
