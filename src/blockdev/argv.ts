import type { InstanceStorage } from "./instance.js";
import type { BlockNode, Device, JsonValue, QemuCaps } from "./model.js";

/**
 * QEMU >= 7.0 takes JSON for -device and still emits DEVICE_DELETED for such devices (6.2's JSON
 * devices never finished a hot-unplug, QEMU issue #802).
 */
export const jsonDeviceSupported = (caps: QemuCaps): boolean => caps.version[0] >= 7;

/** key=value syntax: a literal comma is doubled, everything else is taken verbatim. */
function keyvalValue(v: JsonValue): string {
  if (typeof v === "boolean") return v ? "on" : "off";
  return String(v).replaceAll(",", ",,");
}

export function deviceArg(d: Device, json: boolean): string {
  if (json) return JSON.stringify({ driver: d.driver, ...d.props });
  return [d.driver.replaceAll(",", ",,"), ...Object.entries(d.props).map(([k, v]) => `${k}=${keyvalValue(v)}`)].join(",");
}

/** -blockdev is JSON always: any path survives, whatever commas or quotes it holds. */
export const blockdevArg = (n: BlockNode): string => JSON.stringify(n.props);

/** The argv fragment: -blockdev as JSON always (any path survives), then -device, then extras. */
export function storageArgv(storage: InstanceStorage, caps: QemuCaps): string[] {
  const json = jsonDeviceSupported(caps);
  const argv: string[] = [];
  for (const n of storage.nodes) argv.push("-blockdev", blockdevArg(n));
  for (const d of storage.devices) argv.push("-device", deviceArg(d, json));
  argv.push(...storage.extraArgs);
  return argv;
}
