import { readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename } from "node:path";
import { privateDir } from "../host/cache-dir.js";
import { shortHash } from "../util/hash.js";
import { stockName } from "./qemu-name.js";

/** How the launcher execs the real QEMU: under which name (argv[0]), through which path. */
export interface QemuExec {
  /** argv[0]: the name stock Ganeti would have run QEMU by (see qemu-name.ts). */
  name: string;
  /** The path exec'd: the real QEMU, or a link to it whose file name is the name's. */
  path: string;
}

/** The directory of the links to one real QEMU binary. */
export const qemuLinkDir = (cacheDir: string, realQemu: string): string => `${cacheDir}/qemu/${shortHash(realQemu)}`;

/**
 * The process's comm is the file name of the path exec'd (not argv[0], not the link's target):
 * where the real QEMU's file name differs from the stock one (/usr/bin/kvm.distrib for kvm), QEMU
 * is exec'd through a link of the plugin's, <cacheDir>/qemu/<hash of the target>/<stock file name>.
 * /proc/<pid>/exe is the same binary either way.
 */
export function qemuExec(calledAs: string, realQemu: string, cacheDir: string): QemuExec {
  const name = stockName(calledAs, realQemu);
  const file = basename(name);
  if (basename(realQemu) === file) return { name, path: realQemu };
  const dir = qemuLinkDir(cacheDir, realQemu);
  const link = `${dir}/${file}`;
  // Only in directories no one else can write: another user could swap the link before the exec.
  if (![cacheDir, `${cacheDir}/qemu`, dir].every(privateDir)) return { name, path: realQemu };
  try {
    if (readlinkSync(link) === realQemu) return { name, path: link };
  } catch {
    // not there yet, or not a link: made below
  }
  try {
    const tmp = `${link}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(realQemu, tmp);
    renameSync(tmp, link);
    return { name, path: link };
  } catch {
    // No link (a read-only cache): the comm differs from stock, nothing else does.
    return { name, path: realQemu };
  }
}
