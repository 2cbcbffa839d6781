import { readFileSync } from "node:fs";
import type { QemuCaps, QemuVersion } from "../blockdev/model.js";
import { InputError } from "../errors.js";
import { parseVersion, probeQemuVersion } from "./qemu-version.js";

const atLeast = (v: QemuVersion, major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor);

/**
 * The io_uring gate, the one place that decides it, for instance starts and hot-adds alike:
 * QEMU >= 5.0, built with io_uring (when known: only a running QEMU's schema tells), and a kernel
 * that lets this process create rings (Linux >= 6.6 can forbid it).
 */
export function ioUringStatus(
  version: QemuVersion,
  opts: { builtWith?: boolean; sysctlPath?: string } = {},
): QemuCaps["ioUring"] {
  if (!atLeast(version, 5, 0)) return { usable: false, reason: `QEMU ${version.join(".")} is older than 5.0` };
  if (opts.builtWith === false) return { usable: false, reason: "this QEMU was built without io_uring" };
  const sysctlPath = opts.sysctlPath ?? "/proc/sys/kernel/io_uring_disabled";
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

/**
 * QEMU's capabilities for planning a start: the version comes from the operator's flag, the JSON
 * input, or the binary itself (cached), in that order.
 */
export function qemuCaps(opts: { flag?: string; json?: string; kvmPath: string; cacheDir: string }): QemuCaps {
  let version: QemuVersion | undefined;
  const given = opts.flag ?? opts.json;
  if (given !== undefined) {
    version = parseVersion(given);
    if (!version) throw new InputError("BAD_QEMU_VERSION", `QEMU version ${JSON.stringify(given)}: must look like 7.2.22`);
  } else {
    version = probeQemuVersion(opts.kvmPath, opts.cacheDir);
  }
  return { version, ioUring: ioUringStatus(version) };
}
