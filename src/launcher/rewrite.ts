import { blockdevArg, deviceArg } from "../blockdev/argv.js";
import { aioFitsCache, type CacheSetting, cacheMode, isAioMode, isCacheMode } from "../blockdev/cache.js";
import {
  device,
  floppyController,
  hasWriteCache,
  ideSlot,
  keptDefaultCdrom,
  legacyScsiSlot,
  suppressesDefaultCdrom,
} from "../blockdev/devices.js";
import { cdromId, checkNodeName, FLOPPY_ID } from "../blockdev/ids.js";
import type { BlockNode, Device, Props } from "../blockdev/model.js";
import { type Location, type NodeSpec, storageNode } from "../blockdev/nodes.js";
import { isHttpUrl, isStorageUri } from "../blockdev/protocols.js";
import { PluginError } from "../errors.js";
import { type ArgvOption, parseOptString, splitOptions } from "../ganeti/kvm-argv.js";
import type { DiskAio, DiskCache } from "../generated/common.js";

/**
 * The `kvm_path` launcher's rewrite of Ganeti 3.0's QEMU command line: every `-drive` becomes a
 * `-blockdev` node, and every guest device stays where the legacy command line put it, so that a
 * VM started either way can live-migrate into the other (qemu-7.2-lab.md §11):
 * - `-drive if=none,id=X` + `-device …,drive=X` (Ganeti's disks): the node is named X, the device
 *   keeps Ganeti's driver, id, bus and addr/scsi-id, in key=value syntax at its place (QEMU
 *   realises JSON devices after all key=value ones, which would move devices without an addr);
 * - `-drive if=ide|scsi|floppy` (CD-ROMs, floppy, IDE disks): a device at the bus and unit QEMU
 *   gives that drive index; `if=virtio`: a virtio-blk device after the last -device, where QEMU
 *   realises the legacy one;
 * - the write cache the legacy `cache=` mode set on the device is set on it explicitly;
 * - `-boot c|d|a` becomes bootindex on the first disk, the first CD-ROM, or the floppy controller;
 * - QEMU's default empty CD-ROM, which an explicit IDE or SCSI device suppresses, is kept.
 * Everything else (daemonize, pidfile, monitors, NICs) stays as Ganeti wrote it. Pure.
 */

/** What the launcher needs to know about the host: what a local path is. */
export interface LaunchFacts {
  pathKind: (path: string) => "file" | "block" | undefined;
}

/** Ganeti's argv holds something the launcher will not pass on: the start is refused, exit 1. */
export class ArgvError extends PluginError {
  constructor(message: string) {
    super("UNSUPPORTED_ARGV", message, 1);
  }
}

type Iface = "none" | "ide" | "virtio" | "scsi" | "floppy";

interface Drive {
  option: ArgvOption;
  id?: string;
  iface: Iface;
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
/** QEMU's shorthand disk options: they would attach disks the launcher never saw. */
const SHORTHANDS = new Set(["hda", "hdb", "hdc", "hdd", "cdrom", "fda", "fdb", "sd", "mtdblock", "pflash", "drive"]);

const show = (o: ArgvOption) => `${o.word} ${o.value ?? ""}`.trim();

function parseDrive(option: ArgvOption, counters: Map<Iface, number>): Drive {
  const where = `argument ${show(option)}`;
  const kv = new Map<string, string>();
  for (const [k, v] of parseOptString(option.value ?? "")) {
    if (!DRIVE_KEYS.has(k)) throw new ArgvError(`${where}: -drive option '${k}' is not one Ganeti writes; nothing was started`);
    kv.set(k, v);
  }
  const get = (k: string) => kv.get(k);
  const file = get("file");
  if (!file) throw new ArgvError(`${where}: a -drive without file= (an empty drive) is not supported; nothing was started`);
  const format = get("format");
  if (format !== undefined && format !== "raw") {
    throw new ArgvError(`${where}: format=${format}: Ganeti's images are raw; nothing was started`);
  }
  const iface = (get("if") ?? "ide") as Iface;
  if (!["none", "ide", "virtio", "scsi", "floppy"].includes(iface)) {
    throw new ArgvError(`${where}: if=${iface} is not supported (none, ide, virtio, scsi, floppy); nothing was started`);
  }
  const media = get("media") ?? "disk";
  if (media !== "disk" && media !== "cdrom") throw new ArgvError(`${where}: media=${media} is not disk or cdrom`);
  const cache = get("cache") ?? "writeback";
  if (!isCacheMode(cache)) throw new ArgvError(`${where}: cache=${cache} is not a QEMU cache mode`);
  const aio = get("aio") ?? "threads";
  if (!isAioMode(aio)) throw new ArgvError(`${where}: aio=${aio} is not threads, native or io_uring`);
  const discard = get("discard") ?? "ignore";
  if (!["ignore", "off", "unmap", "on"].includes(discard))
    throw new ArgvError(`${where}: discard=${discard} is not ignore or unmap`);
  const index = counters.get(iface) ?? 0;
  counters.set(iface, index + 1);
  const drive: Drive = {
    option,
    iface,
    cdrom: media === "cdrom",
    file,
    cache,
    aio,
    discard: discard === "unmap" || discard === "on" ? "unmap" : "ignore",
    index,
  };
  const id = get("id");
  if (id !== undefined) drive.id = id;
  if (iface === "none" && id === undefined) throw new ArgvError(`${where}: if=none without id= can back no device`);
  return drive;
}

/** Where a drive's data is: an HTTP(S) URL, a userspace storage URI, or a local path of its kind. */
function driveLocation(d: Drive, facts: LaunchFacts): Location {
  if (isHttpUrl(d.file)) return { url: d.file };
  if (isStorageUri(d.file)) return { uri: d.file };
  return { path: d.file, kind: facts.pathKind(d.file) === "block" ? "block" : "file" };
}

/** The drive as the node model has it (src/blockdev/nodes.ts), built by the builder instance-start uses. */
function nodeOf(d: Drive, name: string, facts: LaunchFacts): BlockNode {
  const cache: CacheSetting = cacheMode(d.cache);
  if (!aioFitsCache(d.aio, cache)) {
    throw new ArgvError(`argument ${show(d.option)}: aio=native needs cache=none or directsync (QEMU refuses it otherwise)`);
  }
  const spec: NodeSpec = {
    name: checkNodeName(name),
    location: driveLocation(d, facts),
    cache,
    aio: d.aio === "threads" ? undefined : d.aio,
    readOnly: d.cdrom,
    discard: d.cdrom ? undefined : d.discard,
  };
  return storageNode(spec, `argument ${show(d.option)}`);
}

/** The device the legacy `if=` drive would have created, at the same place. */
function legacyDevice(d: Drive, name: string, machine: string): Device {
  const where = `argument ${show(d.option)}`;
  switch (d.iface) {
    case "ide": {
      const slot = ideSlot(d.index, machine);
      if (!slot) throw new ArgvError(`${where}: IDE drive ${d.index + 1} does not fit the board's IDE buses`);
      return device(d.cdrom ? "ide-cd" : "ide-hd", { bus: slot.bus, unit: slot.unit, drive: name, id: name });
    }
    case "scsi": {
      const slot = legacyScsiSlot(d.index);
      return device(d.cdrom ? "scsi-cd" : "scsi-hd", { bus: `scsi.${slot.bus}`, "scsi-id": slot.unit, drive: name, id: name });
    }
    case "floppy":
      return device("floppy", { unit: d.index, drive: name, id: name });
    default:
      return device("virtio-blk-pci", { drive: name, id: name });
  }
}

/** The write cache the legacy `cache=` mode gave the device, stated on the device itself. */
function withWriteCache(dev: Device, d: Drive): Device {
  if (d.cdrom || !hasWriteCache(dev.driver) || "write-cache" in dev.props) return dev;
  return { driver: dev.driver, props: { ...dev.props, "write-cache": cacheMode(d.cache).writeCache ? "on" : "off" } };
}

function parseDevice(o: ArgvOption): Device {
  const value = o.value ?? "";
  if (value.startsWith("{")) throw new ArgvError(`argument ${show(o)}: JSON -device is not what Ganeti 3.0 writes`);
  const [first, ...rest] = parseOptString(value, "driver");
  const props: Props = {};
  for (const [k, v] of rest) props[k] = v;
  return { driver: first?.[1] ?? "", props };
}

/**
 * Ganeti 3.1 upgrades a runtime file written by 3.0 without its disk_discard=default (the rewrite
 * sits in a branch it skips without VNC): its -blockdev then says discard=default, which QEMU
 * refuses. 3.0 meant QEMU's default, ignore. The one change made to 3.1's storage arguments.
 */
const fixDiscard = (blockdev: string): string =>
  blockdev.startsWith("{") ? blockdev : blockdev.replace(/(^|,)discard=default(?=,|$)/, "$1discard=ignore");

/** The node-name of a -blockdev argument, JSON or key=value (the one Ganeti 3.1 writes). */
function blockdevNodeName(o: ArgvOption): string {
  const value = o.value ?? "";
  if (value.startsWith("{")) {
    try {
      const name = (JSON.parse(value) as { "node-name"?: unknown })["node-name"];
      return typeof name === "string" ? name : "";
    } catch {
      return "";
    }
  }
  return parseOptString(value).find(([k]) => k === "node-name")?.[1] ?? "";
}

/** Ganeti's machine type: `-machine pc-i440fx-7.2,accel=kvm` or `type=q35`; absent means QEMU's pc. */
export function machineOf(opts: readonly ArgvOption[]): string {
  const m = opts.findLast((o) => o.name === "machine" || o.name === "M");
  if (!m?.value) return "pc";
  const kv = parseOptString(m.value, "type");
  return kv.find(([k]) => k === "type")?.[1] ?? "pc";
}

/** Ganeti 3.0's command line as the launcher reads it: its drives, and Ganeti's devices on them. */
interface LegacyLine {
  opts: ArgvOption[];
  machine: string;
  drives: Map<ArgvOption, Drive>;
  /** Ganeti's own -device options on a -drive (if=none), with that drive. */
  devices: Map<ArgvOption, { device: Device; drive: Drive }>;
  /** Node names of -blockdev options already there (Ganeti 3.1's, with a -drive added). */
  blockdevNodes: Set<string>;
  /** How many drives each interface has, as QEMU counts drive indexes. */
  counters: Map<Iface, number>;
  /** The name each drive's node gets. */
  names: Map<Drive, string>;
}

/** -boot c|d|a as a bootindex: the drive (or floppy controller) that gets it. */
interface BootPlan {
  option: ArgvOption | undefined;
  letter: "c" | "d" | "a" | undefined;
  drive: Drive | undefined;
}

/** Rewrites Ganeti's argv (without argv[0]) so that no `-drive` is left. */
export function rewriteArgv(argv: readonly string[], facts: LaunchFacts): string[] {
  const opts = splitOptions(argv);
  refuseForeignForms(opts);
  // Ganeti 3.1 writes -blockdev + -device itself: with no -drive, nothing is rewritten and QEMU
  // gets the storage arguments stock 3.1 gives it, so that migration to and from a stock 3.1 node
  // keeps working. Which Ganeti wrote the argv is read from the argv, not from a setting.
  if (!opts.some((o) => o.name === "drive")) return argv.map((w, i) => (argv[i - 1] === "-blockdev" ? fixDiscard(w) : w));
  const line = readLegacyLine(opts);
  const boot = bootPlan(line);
  const { out, emitted } = emitLine(line, boot, facts);
  // QEMU's default CD-ROM, where the legacy command line had it and explicit devices now suppress it.
  const hadDefault =
    !opts.some((o) => o.name === "nodefaults") &&
    !opts.some((o) => o.name === "device" && suppressesDefaultCdrom(parseDevice(o).driver)) &&
    (line.counters.get("ide") ?? 0) <= 2;
  const kept = keptDefaultCdrom(hadDefault, emitted, line.machine);
  if (kept) out.push("-device", deviceArg(kept, false));
  // The promise: no -drive reaches QEMU.
  if (splitOptions(out).some((o) => o.name === "drive")) throw new ArgvError("a -drive was left in the command line");
  return out;
}

/** Disk forms Ganeti never writes (bare images, -hda, -cdrom, ...) would attach disks the launcher never saw. */
function refuseForeignForms(opts: readonly ArgvOption[]): void {
  for (const o of opts) {
    if (o.name === "") throw new ArgvError(`argument ${JSON.stringify(o.word)}: a bare disk image is not supported`);
    if (SHORTHANDS.has(o.name) && o.name !== "drive") {
      throw new ArgvError(`argument ${show(o)}: -${o.name} is not supported (Ganeti writes -drive); nothing was started`);
    }
  }
}

/** The drives, Ganeti's devices on them, and each drive's node name. */
function readLegacyLine(opts: ArgvOption[]): LegacyLine {
  const blockdevNodes = new Set(opts.flatMap((o) => (o.name === "blockdev" ? [blockdevNodeName(o)] : [])));
  const counters = new Map<Iface, number>();
  const drives = new Map<ArgvOption, Drive>();
  for (const o of opts) if (o.name === "drive") drives.set(o, parseDrive(o, counters));
  const backing = new Map<string, Drive>();
  for (const d of drives.values()) {
    if (d.id === undefined) continue;
    if (backing.has(d.id)) throw new ArgvError(`argument ${show(d.option)}: a second drive with id ${d.id}`);
    backing.set(d.id, d);
  }
  const devices = new Map<ArgvOption, { device: Device; drive: Drive }>();
  for (const o of opts) {
    if (o.name !== "device") continue;
    const dev = parseDevice(o);
    const id = dev.props["drive"];
    if (typeof id !== "string") continue;
    if (blockdevNodes.has(id) && !backing.has(id)) continue; // on a -blockdev node already: as written
    const drive = backing.get(id);
    if (!drive) throw new ArgvError(`argument ${show(o)}: drive=${id} names no -drive of this command line`);
    devices.set(o, { device: dev, drive });
  }
  return { opts, machine: machineOf(opts), drives, devices, blockdevNodes, counters, names: driveNames([...drives.values()]) };
}

/** Names for drives without an id: cdrom1, cdrom2, floppy1, as instance-start names them; disk<n> otherwise. */
function driveNames(drives: readonly Drive[]): Map<Drive, string> {
  const names = new Map<Drive, string>();
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

/**
 * -boot c|d|a becomes bootindex on the first disk, the first CD-ROM, or the floppy controller; any
 * other -boot (network, menus) stays as written, and so does one whose target is on a -blockdev
 * node already (an argv of Ganeti 3.1 with a -drive added).
 */
function bootPlan(line: LegacyLine): BootPlan {
  const option = line.opts.findLast((o) => o.name === "boot");
  const all = [...line.drives.values()];
  const target = (letter: string | undefined): Drive | undefined =>
    letter === "c"
      ? all.find((d) => !d.cdrom && d.iface !== "floppy")
      : letter === "d"
        ? all.find((d) => d.cdrom)
        : all.find((d) => d.iface === "floppy");
  const asked = option?.value === "c" || option?.value === "d" || option?.value === "a" ? option.value : undefined;
  const letter = asked && (target(asked) || line.blockdevNodes.size === 0) ? asked : undefined;
  const drive = letter && letter !== "a" ? target(letter) : undefined;
  if (letter && letter !== "a" && !drive)
    throw new ArgvError(`argument ${show(option as ArgvOption)}: names no drive to boot from`);
  if (letter === "a" && !target("a")) {
    throw new ArgvError(`argument ${show(option as ArgvOption)}: there is no floppy to boot from`);
  }
  return { option, letter, drive };
}

/**
 * The command line with each -drive replaced by its node (and, for an `if=` drive, the device the
 * legacy drive made), Ganeti's devices given their write cache and boot index, and everything else
 * as Ganeti wrote it, in Ganeti's order. Devices of if=virtio drives follow the last -device, where
 * QEMU realised the legacy ones.
 */
function emitLine(line: LegacyLine, boot: BootPlan, facts: LaunchFacts): { out: string[]; emitted: Device[] } {
  const out: string[] = [];
  const deferred: string[] = [];
  const emitted: Device[] = [];
  const lastDevice = line.opts.findLast((o) => o.name === "device");
  const emitDevice = (dev: Device) => {
    emitted.push(dev);
    return deviceArg(dev, false);
  };
  const bootindex = (dev: Device, d: Drive): Device =>
    d === boot.drive ? { driver: dev.driver, props: { ...dev.props, bootindex: 1 } } : dev;
  for (const o of line.opts) {
    const drive = line.drives.get(o);
    const onDrive = line.devices.get(o);
    if (drive) {
      const name = line.names.get(drive) as string;
      out.push("-blockdev", blockdevArg(nodeOf(drive, name, facts)));
      // The floppy's controller as instance-start gives it (devices.ts): q35 has none of its own (the
      // legacy floppy drive made the board add one), pc's boots by -global.
      if (drive.iface === "floppy") {
        const fdc = floppyController(line.machine, boot.letter === "a");
        for (const d of fdc.devices) out.push("-device", emitDevice(d));
        out.push(...fdc.extraArgs);
      }
      if (drive.iface !== "none") {
        const dev = emitDevice(bootindex(withWriteCache(legacyDevice(drive, name, line.machine), drive), drive));
        (drive.iface === "virtio" ? deferred : out).push("-device", dev);
      }
    } else if (onDrive) {
      out.push(o.word, emitDevice(bootindex(withWriteCache(onDrive.device, onDrive.drive), onDrive.drive)));
    } else if (o === boot.option && boot.letter) {
      // replaced by a bootindex
    } else {
      out.push(o.word);
      if (o.value !== undefined) out.push(o.name === "blockdev" ? fixDiscard(o.value) : o.value);
    }
    if (o === lastDevice) out.push(...deferred.splice(0));
  }
  out.push(...deferred);
  return { out, emitted };
}
