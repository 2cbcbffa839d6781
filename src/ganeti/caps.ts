import type { QemuCaps } from "../blockdev/model.js";
import { InputError } from "../errors.js";
import { ioUringStatus, parseVersion, probeQemuVersion, type Version } from "./qemu-facts.js";

/**
 * QEMU's capabilities for planning: the version comes from the operator's flag, the JSON input,
 * or the binary itself (cached), in that order.
 */
export function qemuCaps(opts: { flag?: string; json?: string; kvmPath: string; cacheDir: string }): QemuCaps {
  let version: Version | undefined;
  const given = opts.flag ?? opts.json;
  if (given !== undefined) {
    version = parseVersion(given);
    if (!version) throw new InputError("BAD_QEMU_VERSION", `QEMU version ${JSON.stringify(given)}: must look like 7.2.22`);
  } else {
    version = probeQemuVersion(opts.kvmPath, opts.cacheDir);
  }
  return { version, ioUring: ioUringStatus(version) };
}
