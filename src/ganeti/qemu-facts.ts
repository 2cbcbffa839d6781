import { mkdirSync, readFileSync, statSync } from "node:fs";
import type { QemuCaps } from "../blockdev/model.js";
import { PluginError } from "../errors.js";
import { shortHash } from "../util/hash.js";
import { writeAtomically } from "./atomic.js";

export type Version = readonly [number, number, number];

export function parseVersion(text: string): Version | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export const atLeast = (v: Version, major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor);

/**
 * QEMU's version, from `<kvm_path> --version`. Running QEMU costs more than the whole hook, so the
 * answer is cached per binary, keyed by inode, size and mtime (an upgrade changes all three).
 */
export function probeQemuVersion(kvmPath: string, cacheDir: string): Version {
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
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key?: string; version?: Version };
    if (cached.key === key && Array.isArray(cached.version)) return cached.version;
  } catch {
    // no cache yet, or an unreadable one: ask QEMU
  }
  let out: string;
  try {
    // Loaded only on a cache miss: node:child_process alone costs a hook ~4 ms of start-up.
    const { execFileSync } = process.getBuiltinModule("node:child_process") as typeof import("node:child_process");
    out = execFileSync(kvmPath, ["--version"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new PluginError("QEMU_VERSION", `cannot run ${kvmPath} --version: ${(e as Error).message.split("\n")[0]}`);
  }
  const version = parseVersion(out);
  if (!version) throw new PluginError("QEMU_VERSION", `cannot read a version from ${kvmPath} --version: ${out.split("\n")[0]}`);
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeAtomically(file, JSON.stringify({ key, version }));
  } catch {
    // A read-only cache only costs time.
  }
  return version;
}

/** io_uring needs QEMU >= 5.0 and a kernel that lets this process create rings (Linux >= 6.6 can forbid it). */
export function ioUringStatus(version: Version, sysctlPath = "/proc/sys/kernel/io_uring_disabled"): QemuCaps["ioUring"] {
  if (!atLeast(version, 5, 0)) return { usable: false, reason: `QEMU ${version.join(".")} is older than 5.0` };
  let value = "0";
  try {
    value = readFileSync(sysctlPath, "utf8").trim();
  } catch {
    // No sysctl: a kernel from before 6.6, which never restricts io_uring.
  }
  return value === "0"
    ? { usable: true, reason: "" }
    : { usable: false, reason: `the host kernel restricts it (${sysctlPath} = ${value})` };
}
