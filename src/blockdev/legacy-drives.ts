import { ArgvError } from "../errors.js";
import type { DiskAio, DiskCache } from "../generated/common.js";
import { aioFitsCache, cacheMode, isAioMode, isCacheMode } from "./cache.js";
import { device, floppyController, hasWriteCache, ideSlot, legacyScsiSlot } from "./devices.js";
import { cdromId, checkNodeName, FLOPPY_ID } from "./ids.js";
import type { BlockNode, Device } from "./model.js";
import { type Location, storageNode } from "./nodes.js";
import { isHttpUrl, isStorageUri } from "./protocols.js";

/**
 * Ganeti 3.0's `-drive` options as storage: what each one is, the node it becomes, and the device
 * the legacy drive gave the guest, at the place QEMU gave it (qemu-7.2-lab.md §11), so that a VM
 * started either way can live-migrate into the other. The launcher reads the command line and keeps
 * Ganeti's order; everything about one drive is planned here, beside instance-start's planning
 * (instance.ts), with the same node builder, device names and floppy rules. Pure.
 */

export type LegacyIface = "none" | "ide" | "virtio" | "scsi" | "floppy";

export interface LegacyDrive {
  /** The option as written, for messages: `argument -drive file=...`. */
  where: string;
  id?: string;
  iface: LegacyIface;
  cdrom: boolean;
  file: string;
  cache: Exclude<DiskCache, "default">;
  aio: DiskAio;
  discard: "ignore" | "unmap";
  /** Index among drives of the same interface, as QEMU counts them (if=ide|scsi|floppy). */
  index: number;
}

/** The `-drive` keys Ganeti 3.0 writes; any other is refused rather than dropped. */
const DRIVE_KEYS = new Set(["file", "format", "if", "media", "cache", "aio", "discard", "id", "auto-read-only"]);
const IFACES: readonly LegacyIface[] = ["none", "ide", "virtio", "scsi", "floppy"];
const isIface = (w: string): w is LegacyIface => (IFACES as readonly string[]).includes(w);

/**
 * One -drive from its `key=value` pairs, checked: any key, format or mode Ganeti does not write is
 * refused. `counters` counts drives per interface, as QEMU numbers them.
 */
export function legacyDrive(pairs: readonly [string, string][], where: string, counters: Map<LegacyIface, number>): LegacyDrive {
  const kv = new Map<string, string>();
  for (const [k, v] of pairs) {
    if (!DRIVE_KEYS.has(k)) throw new ArgvError(`${where}: -drive option '${k}' is not one Ganeti writes; nothing was started`);
    kv.set(k, v);
  }
  const file = kv.get("file");
  if (!file) throw new ArgvError(`${where}: a -drive without file= (an empty drive) is not supported; nothing was started`);
  const format = kv.get("format");
  if (format !== undefined && format !== "raw")
    throw new ArgvError(`${where}: format=${format}: Ganeti's images are raw; nothing was started`);
  const iface = kv.get("if") ?? "ide";
  if (!isIface(iface)) throw new ArgvError(`${where}: if=${iface} is not supported (${IFACES.join(", ")}); nothing was started`);
  const media = kv.get("media") ?? "disk";
  if (media !== "disk" && media !== "cdrom") throw new ArgvError(`${where}: media=${media} is not disk or cdrom`);
  const cache = kv.get("cache") ?? "writeback";
  if (!isCacheMode(cache)) throw new ArgvError(`${where}: cache=${cache} is not a QEMU cache mode`);
  const aio = kv.get("aio") ?? "threads";
  if (!isAioMode(aio)) throw new ArgvError(`${where}: aio=${aio} is not threads, native or io_uring`);
  const discard = kv.get("discard") ?? "ignore";
  if (!["ignore", "off", "unmap", "on"].includes(discard))
    throw new ArgvError(`${where}: discard=${discard} is not ignore or unmap`);
  const index = counters.get(iface) ?? 0;
  counters.set(iface, index + 1);
  const id = kv.get("id");
  if (iface === "none" && id === undefined) throw new ArgvError(`${where}: if=none without id= can back no device`);
  const unmap = discard === "unmap" || discard === "on";
  return {
    where,
    ...(id === undefined ? {} : { id }),
    iface,
    cdrom: media === "cdrom",
    file,
    cache,
    aio,
    discard: unmap ? "unmap" : "ignore",
    index,
  };
}

/** Names for drives without an id: cdrom1, cdrom2, floppy1, as instance-start names them; disk<n> otherwise. */
export function legacyDriveNames(drives: readonly LegacyDrive[]): Map<LegacyDrive, string> {
  const names = new Map<LegacyDrive, string>();
  const seq = { cdrom: 0, floppy: 0, disk: 0 };
  for (const d of drives) {
    if (d.id !== undefined) names.set(d, d.id);
    else if (d.iface === "floppy" && seq.floppy++ === 0) names.set(d, FLOPPY_ID);
    else if (d.iface === "floppy") names.set(d, `floppy${seq.floppy}`);
    else if (d.cdrom) names.set(d, cdromId(++seq.cdrom));
    else names.set(d, `disk${seq.disk++}`);
  }
  return names;
}

/** The drive -boot c (first disk), d (first CD-ROM) or a (the floppy) names, if any. */
export function legacyBootDrive(drives: readonly LegacyDrive[], letter: "c" | "d" | "a"): LegacyDrive | undefined {
  if (letter === "c") return drives.find((d) => !d.cdrom && d.iface !== "floppy");
  return letter === "d" ? drives.find((d) => d.cdrom) : drives.find((d) => d.iface === "floppy");
}

/** Where a drive's data is: an HTTP(S) URL, a userspace storage URI, or a local path of its kind. */
function location(d: LegacyDrive, pathKind: (path: string) => "file" | "block" | undefined): Location {
  if (isHttpUrl(d.file)) return { url: d.file };
  if (isStorageUri(d.file)) return { uri: d.file };
  return { path: d.file, kind: pathKind(d.file) === "block" ? "block" : "file" };
}

/** The drive's node, built by the builder instance-start uses (nodes.ts). */
export function legacyNode(d: LegacyDrive, name: string, pathKind: (path: string) => "file" | "block" | undefined): BlockNode {
  const cache = cacheMode(d.cache);
  if (!aioFitsCache(d.aio, cache))
    throw new ArgvError(`${d.where}: aio=native needs cache=none or directsync (QEMU refuses it otherwise)`);
  const readOnly = d.cdrom;
  const spec = { name: checkNodeName(name), location: location(d, pathKind), cache, readOnly };
  return storageNode(
    { ...spec, aio: d.aio === "threads" ? undefined : d.aio, discard: d.cdrom ? undefined : d.discard },
    d.where,
  );
}

/**
 * A guest device on a legacy drive as the drive's cache mode and -boot had it: the write cache the
 * legacy `cache=` mode set, stated on the device, and bootindex 1 when it is the boot drive.
 */
export function onLegacyDrive(dev: Device, d: LegacyDrive, boots: boolean): Device {
  const props = { ...dev.props };
  if (!d.cdrom && hasWriteCache(dev.driver) && !("write-cache" in props))
    props["write-cache"] = cacheMode(d.cache).writeCache ? "on" : "off";
  if (boots) props["bootindex"] = 1;
  return { driver: dev.driver, props };
}

/** What an `if=` drive made in the legacy command line besides its node: its controller's arguments (the floppy's, as instance-start gives it), then its device. */
export interface LegacyDevices {
  controller: { devices: Device[]; extraArgs: string[] };
  /** Undefined for `if=none`: Ganeti's own -device on it stays where Ganeti wrote it. */
  device?: Device;
}

/** The devices an `if=` drive made in the legacy command line, at the same place. */
export function legacyDevices(d: LegacyDrive, name: string, machine: string, bootLetter: string | undefined): LegacyDevices {
  const none = { devices: [], extraArgs: [] };
  const own = (driver: string, place: Record<string, string | number>) => device(driver, { ...place, drive: name, id: name });
  switch (d.iface) {
    case "none":
      return { controller: none };
    case "ide": {
      const slot = ideSlot(d.index, machine);
      if (!slot) throw new ArgvError(`${d.where}: IDE drive ${d.index + 1} does not fit the board's IDE buses`);
      return { controller: none, device: own(d.cdrom ? "ide-cd" : "ide-hd", { bus: slot.bus, unit: slot.unit }) };
    }
    case "scsi": {
      const slot = legacyScsiSlot(d.index);
      return {
        controller: none,
        device: own(d.cdrom ? "scsi-cd" : "scsi-hd", { bus: `scsi.${slot.bus}`, "scsi-id": slot.unit }),
      };
    }
    case "floppy":
      return { controller: floppyController(machine, bootLetter === "a"), device: own("floppy", { unit: d.index }) };
    default:
      return { controller: none, device: own("virtio-blk-pci", {}) };
  }
}
