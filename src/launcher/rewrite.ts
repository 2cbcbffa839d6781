import { blockdevArg, deviceArg } from "../blockdev/argv.js";
import { keptDefaultCdrom, suppressesDefaultCdrom } from "../blockdev/devices.js";
import {
  type LegacyDrive,
  type LegacyIface,
  legacyBootDrive,
  legacyDevices,
  legacyDrive,
  legacyDriveNames,
  legacyNode,
  onLegacyDrive,
} from "../blockdev/legacy-drives.js";
import type { Device, Props } from "../blockdev/model.js";
import { ArgvError } from "../errors.js";
import { type ArgvOption, type KvmArgv, parseOptString, splitOptions } from "../ganeti/kvm-argv.js";

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

/** QEMU's shorthand disk options: they would attach disks the launcher never saw. */
const SHORTHANDS = new Set(["hda", "hdb", "hdc", "hdd", "cdrom", "fda", "fdb", "sd", "mtdblock", "pflash"]);

const show = (o: ArgvOption) => `argument ${o.word} ${o.value ?? ""}`.trim();

function parseDevice(o: ArgvOption): Device {
  const value = o.value ?? "";
  if (value.startsWith("{")) throw new ArgvError(`${show(o)}: JSON -device is not what Ganeti 3.0 writes`);
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
  if (!value.startsWith("{")) return parseOptString(value).find(([k]) => k === "node-name")?.[1] ?? "";
  try {
    const name = (JSON.parse(value) as { "node-name"?: unknown })["node-name"];
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

/** Ganeti 3.0's command line as the launcher reads it: its drives, and Ganeti's devices on them. */
interface LegacyLine {
  opts: readonly ArgvOption[];
  machine: string;
  drives: Map<ArgvOption, LegacyDrive>;
  /** Ganeti's own -device options on a -drive (if=none), with that drive. */
  devices: Map<ArgvOption, { device: Device; drive: LegacyDrive }>;
  /** Node names of -blockdev options already there (Ganeti 3.1's, with a -drive added). */
  blockdevNodes: Set<string>;
  /** How many drives each interface has, as QEMU counts drive indexes. */
  counters: Map<LegacyIface, number>;
  /** The name each drive's node gets. */
  names: Map<LegacyDrive, string>;
}

/** -boot c|d|a as a bootindex: the letter taken, and the drive that gets it (none for the floppy's controller). */
interface BootPlan {
  option: ArgvOption | undefined;
  letter: "c" | "d" | "a" | undefined;
  drive: LegacyDrive | undefined;
}

/** Ganeti's argv (without argv[0]), read once, with no `-drive` left. */
export function rewriteArgv(argv: KvmArgv, facts: LaunchFacts): string[] {
  const { opts } = argv;
  refuseForeignForms(opts);
  // Ganeti 3.1 writes -blockdev + -device itself: with no -drive, nothing is rewritten and QEMU
  // gets the storage arguments stock 3.1 gives it, so that migration to and from a stock 3.1 node
  // keeps working. Which Ganeti wrote the argv is read from the argv, not from a setting.
  if (!opts.some((o) => o.name === "drive")) return opts.flatMap((o) => wordsAsWritten(o));
  const line = readLegacyLine(argv);
  const { out, emitted } = emitLine(line, bootPlan(line), facts);
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

/** An option Ganeti wrote, passed on: as written, but for a 3.1 -blockdev's discard=default. */
const wordsAsWritten = (o: ArgvOption): string[] =>
  o.value === undefined ? [o.word] : [o.word, o.name === "blockdev" ? fixDiscard(o.value) : o.value];

/** Disk forms Ganeti never writes (bare images, -hda, -cdrom, ...) would attach disks the launcher never saw. */
function refuseForeignForms(opts: readonly ArgvOption[]): void {
  for (const o of opts) {
    if (o.name === "") throw new ArgvError(`argument ${JSON.stringify(o.word)}: a bare disk image is not supported`);
    if (SHORTHANDS.has(o.name)) {
      throw new ArgvError(`${show(o)}: -${o.name} is not supported (Ganeti writes -drive); nothing was started`);
    }
  }
}

/** The drives, Ganeti's devices on them, and each drive's node name. */
function readLegacyLine({ opts, machine }: KvmArgv): LegacyLine {
  const blockdevNodes = new Set(opts.flatMap((o) => (o.name === "blockdev" ? [blockdevNodeName(o)] : [])));
  const counters = new Map<LegacyIface, number>();
  const drives = new Map<ArgvOption, LegacyDrive>();
  for (const o of opts) if (o.name === "drive") drives.set(o, legacyDrive(parseOptString(o.value ?? ""), show(o), counters));
  const backing = new Map<string, LegacyDrive>();
  for (const d of drives.values()) {
    if (d.id === undefined) continue;
    if (backing.has(d.id)) throw new ArgvError(`${d.where}: a second drive with id ${d.id}`);
    backing.set(d.id, d);
  }
  const devices = new Map<ArgvOption, { device: Device; drive: LegacyDrive }>();
  for (const o of opts) {
    if (o.name !== "device") continue;
    const dev = parseDevice(o);
    const id = dev.props["drive"];
    if (typeof id !== "string") continue;
    if (blockdevNodes.has(id) && !backing.has(id)) continue; // on a -blockdev node already: as written
    const drive = backing.get(id);
    if (!drive) throw new ArgvError(`${show(o)}: drive=${id} names no -drive of this command line`);
    devices.set(o, { device: dev, drive });
  }
  return { opts, machine, drives, devices, blockdevNodes, counters, names: legacyDriveNames([...drives.values()]) };
}

/**
 * -boot c|d|a becomes bootindex on the first disk, the first CD-ROM, or the floppy controller; any
 * other -boot (network, menus) stays as written, and so does one whose target is on a -blockdev
 * node already (an argv of Ganeti 3.1 with a -drive added).
 */
function bootPlan(line: LegacyLine): BootPlan {
  const option = line.opts.findLast((o) => o.name === "boot");
  const all = [...line.drives.values()];
  const asked = option?.value === "c" || option?.value === "d" || option?.value === "a" ? option.value : undefined;
  const target = asked && legacyBootDrive(all, asked);
  const letter = asked && (target || line.blockdevNodes.size === 0) ? asked : undefined;
  if (letter && !target) {
    throw new ArgvError(
      `${show(option as ArgvOption)}: ${letter === "a" ? "there is no floppy to boot from" : "names no drive to boot from"}`,
    );
  }
  return { option, letter, drive: letter && letter !== "a" ? target : undefined };
}

/**
 * The command line with each -drive replaced by its node (and, for an `if=` drive, the devices the
 * legacy drive made), Ganeti's devices given their write cache and boot index, and everything else
 * as Ganeti wrote it, in Ganeti's order. Devices of if=virtio drives follow the last -device, where
 * QEMU realised the legacy ones.
 */
function emitLine(line: LegacyLine, boot: BootPlan, facts: LaunchFacts): { out: string[]; emitted: Device[] } {
  const out: string[] = [];
  const deferred: string[] = [];
  const emitted: Device[] = [];
  const emit = (to: string[], dev: Device) => {
    emitted.push(dev);
    to.push("-device", deviceArg(dev, false));
  };
  const lastDevice = line.opts.findLast((o) => o.name === "device");
  for (const o of line.opts) {
    const drive = line.drives.get(o);
    const onDrive = line.devices.get(o);
    if (drive) {
      const name = line.names.get(drive) as string;
      out.push("-blockdev", blockdevArg(legacyNode(drive, name, facts.pathKind)));
      const made = legacyDevices(drive, name, line.machine, boot.letter);
      for (const d of made.controller.devices) emit(out, d);
      out.push(...made.controller.extraArgs);
      if (made.device) emit(drive.iface === "virtio" ? deferred : out, onLegacyDrive(made.device, drive, drive === boot.drive));
    } else if (onDrive) {
      emit(out, onLegacyDrive(onDrive.device, onDrive.drive, onDrive.drive === boot.drive));
    } else if (o !== boot.option || !boot.letter) {
      out.push(...wordsAsWritten(o)); // a -boot that became a bootindex is dropped
    }
    if (o === lastDevice) out.push(...deferred.splice(0));
  }
  out.push(...deferred);
  return { out, emitted };
}
