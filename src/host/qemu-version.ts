import { readFileSync, statSync } from "node:fs";
import type { QemuVersion } from "../blockdev/model.js";
import { PluginError } from "../errors.js";
import { shortHash } from "../util/hash.js";
import { writeAtomically } from "./atomic-write.js";
import { builtin } from "./builtin.js";
import { ownedAlone, privateDir } from "./cache-dir.js";

export function parseVersion(text: string): QemuVersion | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/**
 * QEMU's version, from `<kvm_path> --version`. Running QEMU costs more than the whole hook, so the
 * answer is cached per binary, keyed by inode, size and mtime (an upgrade changes all three).
 */
export function probeQemuVersion(kvmPath: string, cacheDir: string): QemuVersion {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(kvmPath);
  } catch (e) {
    throw new PluginError(
      "QEMU_NOT_FOUND",
      `kvm_path ${kvmPath}: ${(e as Error).message} (set the kvm_path hvparam, or pass --qemu-version)`,
    );
  }
  const key = `${kvmPath}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
  const file = `${cacheDir}/qemu-version-${shortHash(kvmPath)}.json`;
  try {
    if (!ownedAlone(cacheDir) || !ownedAlone(file)) throw new Error("not ours alone");
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key?: string; version?: QemuVersion };
    if (cached.key === key && Array.isArray(cached.version)) return cached.version;
  } catch {
    // no cache yet, or an unreadable one: ask QEMU
  }
  let out: string;
  try {
    // Loaded only on a cache miss: node:child_process alone costs a hook ~4 ms of start-up.
    const { execFileSync } = builtin<typeof import("node:child_process")>("node:child_process");
    out = execFileSync(kvmPath, ["--version"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new PluginError("QEMU_VERSION", `cannot run ${kvmPath} --version: ${(e as Error).message.split("\n")[0]}`);
  }
  const version = parseVersion(out);
  if (!version) throw new PluginError("QEMU_VERSION", `cannot read a version from ${kvmPath} --version: ${out.split("\n")[0]}`);
  try {
    if (privateDir(cacheDir)) writeAtomically(file, JSON.stringify({ key, version }));
  } catch {
    // A read-only cache only costs time.
  }
  return version;
}
