import { blockdevArg, deviceArg } from "../blockdev/argv.js";
import { aioFitsCache, type CacheSetting, cacheMode, isAioMode, isCacheMode } from "../blockdev/cache.js";
import {
  device,
  hasWriteCache,
  ideSlot,
  isQ35,
  keptDefaultCdrom,
  legacyScsiSlot,
  suppressesDefaultCdrom,
} from "../blockdev/devices.js";
import { checkNodeName } from "../blockdev/ids.js";
import type { BlockNode, Device, Props } from "../blockdev/model.js";
import { nodeOptions, rawNode } from "../blockdev/nodes.js";
import { fileProtocol, hostDeviceProtocol, httpProtocol, isHttpUrl, isStorageUri, uriProtocol } from "../blockdev/protocols.js";
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

/** The protocol node of a drive's file: an HTTP(S) URL, a userspace storage URI, or a local path. */
function protocolOf(d: Drive, facts: LaunchFacts): Props {
  if (isHttpUrl(d.file)) return httpProtocol(d.file);
  if (isStorageUri(d.file)) return uriProtocol(d.file, `argument ${show(d.option)}`);
  const aio = d.aio === "threads" ? undefined : d.aio;
  return facts.pathKind(d.file) === "block" ? hostDeviceProtocol(d.file, aio) : fileProtocol(d.file, aio);
}

function nodeOf(d: Drive, name: string, facts: LaunchFacts): BlockNode {
  const cache: CacheSetting = cacheMode(d.cache);
  if (!aioFitsCache(d.aio, cache)) {
    throw new ArgvError(`argument ${show(d.option)}: aio=native needs cache=none or directsync (QEMU refuses it otherwise)`);
  }
  return rawNode(checkNodeName(name), protocolOf(d, facts), nodeOptions(cache, d.cdrom, d.cdrom ? undefined : d.discard));
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
function machineOf(opts: readonly ArgvOption[]): string {
  const m = opts.findLast((o) => o.name === "machine" || o.name === "M");
  if (!m?.value) return "pc";
  const kv = parseOptString(m.value, "type");
  return kv.find(([k]) => k === "type")?.[1] ?? "pc";
}

/** Rewrites Ganeti's argv (without argv[0]) so that no `-drive` is left. */
export function rewriteArgv(argv: readonly string[], facts: LaunchFacts): string[] {
  const opts = splitOptions(argv);
  for (const o of opts) {
    if (o.name === "") throw new ArgvError(`argument ${JSON.stringify(o.word)}: a bare disk image is not supported`);
    if (SHORTHANDS.has(o.name) && o.name !== "drive") {
      throw new ArgvError(`argument ${show(o)}: -${o.name} is not supported (Ganeti writes -drive); nothing was started`);
    }
  }
  // Ganeti 3.1 writes -blockdev + -device itself: with no -drive, nothing is rewritten and QEMU
  // gets the storage arguments stock 3.1 gives it, so that migration to and from a stock 3.1 node
  // keeps working. Which Ganeti wrote the argv is read from the argv, not from a setting.
  if (!opts.some((o) => o.name === "drive")) return argv.map((w, i) => (argv[i - 1] === "-blockdev" ? fixDiscard(w) : w));
  const blockdevNodes = new Set(opts.flatMap((o) => (o.name === "blockdev" ? [blockdevNodeName(o)] : [])));
  const machine = machineOf(opts);
  const counters = new Map<Iface, number>();
  const drives = new Map<ArgvOption, Drive>();
  for (const o of opts) if (o.name === "drive") drives.set(o, parseDrive(o, counters));
  const backing = new Map<string, Drive>();
  for (const d of drives.values()) {
    if (d.id === undefined) continue;
    if (backing.has(d.id)) throw new ArgvError(`argument ${show(d.option)}: a second drive with id ${d.id}`);
    backing.set(d.id, d);
  }
  const devices = new Map<ArgvOption, Device>();
  for (const o of opts) {
    if (o.name !== "device") continue;
    const dev = parseDevice(o);
    const drive = dev.props["drive"];
    if (typeof drive === "string") {
      if (blockdevNodes.has(drive) && !backing.has(drive)) continue; // on a -blockdev node already: as written
      if (!backing.has(drive)) throw new ArgvError(`argument ${show(o)}: drive=${drive} names no -drive of this command line`);
      devices.set(o, dev);
    }
  }

  // -boot c|d|a becomes bootindex; any other -boot (network, menus) stays as written.
  // A -boot whose target is on a -blockdev node already (an argv of Ganeti 3.1 with a -drive
  // added) stays as written.
  const bootOpt = opts.findLast((o) => o.name === "boot");
  const all = [...drives.values()];
  const bootTarget = (letter: string | undefined): Drive | undefined =>
    letter === "c"
      ? all.find((d) => !d.cdrom && d.iface !== "floppy")
      : letter === "d"
        ? all.find((d) => d.cdrom)
        : all.find((d) => d.iface === "floppy");
  const letter = ["c", "d", "a"].includes(bootOpt?.value ?? "") ? bootOpt?.value : undefined;
  const boot = letter && (bootTarget(letter) || blockdevNodes.size === 0) ? letter : undefined;
  const bootDrive = boot && boot !== "a" ? bootTarget(boot) : undefined;
  if (boot && boot !== "a" && !bootDrive)
    throw new ArgvError(`argument ${show(bootOpt as ArgvOption)}: names no drive to boot from`);

  // Names for drives without an id: cdrom1, cdrom2, floppy1, as the core names them; disk<n> otherwise.
  const names = new Map<Drive, string>();
  const seq = { cdrom: 0, floppy: 0, disk: 0 };
  for (const d of all) {
    if (d.id !== undefined) names.set(d, d.id);
    else if (d.iface === "floppy") names.set(d, `floppy${++seq.floppy}`);
    else if (d.cdrom) names.set(d, `cdrom${++seq.cdrom}`);
    else names.set(d, `disk${seq.disk++}`);
  }

  const out: string[] = [];
  const deferred: string[] = [];
  const emitted: Device[] = [];
  const lastDevice = opts.findLast((o) => o.name === "device");
  const emitDevice = (dev: Device) => {
    emitted.push(dev);
    return deviceArg(dev, false);
  };
  const bootindex = (dev: Device, d: Drive): Device =>
    d === bootDrive ? { driver: dev.driver, props: { ...dev.props, bootindex: 1 } } : dev;
  for (const o of opts) {
    const drive = drives.get(o);
    if (drive) {
      const name = names.get(drive) as string;
      out.push("-blockdev", blockdevArg(nodeOf(drive, name, facts)));
      // q35 has no floppy controller of its own; the legacy floppy drive made the board add one.
      if (drive.iface === "floppy" && isQ35(machine)) out.push("-device", emitDevice(device("isa-fdc", { id: "fdc0" })));
      if (drive.iface !== "none") {
        const dev = emitDevice(bootindex(withWriteCache(legacyDevice(drive, name, machine), drive), drive));
        (drive.iface === "virtio" ? deferred : out).push("-device", dev);
      }
    } else if (devices.has(o)) {
      const dev = devices.get(o) as Device;
      const d = backing.get(dev.props["drive"] as string) as Drive;
      out.push(o.word, emitDevice(bootindex(withWriteCache(dev, d), d)));
    } else if (o === bootOpt && boot) {
      // replaced by bootindex below
    } else {
      out.push(o.word);
      if (o.value !== undefined) out.push(o.name === "blockdev" ? fixDiscard(o.value) : o.value);
    }
    if (o === lastDevice) out.push(...deferred.splice(0));
  }
  out.push(...deferred);

  if (boot === "a") {
    const floppy = all.find((d) => d.iface === "floppy");
    if (!floppy) throw new ArgvError(`argument ${show(bootOpt as ArgvOption)}: there is no floppy to boot from`);
    out.push("-global", "isa-fdc.bootindexA=1");
  }
  // QEMU's default CD-ROM: an empty drive at IDE index 2, unless -nodefaults, a drive at that
  // index, or a device of the kinds in NO_DEFAULT_CDROM. Explicit IDE/SCSI devices suppress it, so
  // where the legacy command line had it, it is created explicitly.
  const hadDefault =
    !opts.some((o) => o.name === "nodefaults") &&
    !opts.some((o) => o.name === "device" && suppressesDefaultCdrom(parseDevice(o).driver)) &&
    (counters.get("ide") ?? 0) <= 2;
  const kept = keptDefaultCdrom(hadDefault, emitted, machine);
  if (kept) out.push("-device", deviceArg(kept, false));
  // The promise: no -drive reaches QEMU.
  if (splitOptions(out).some((o) => o.name === "drive")) throw new ArgvError("a -drive was left in the command line");
  return out;
}
