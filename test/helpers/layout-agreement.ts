// One layout, two roads: instance-start's plan from a runtime document's hvparams and disks, and
// the launcher's rewrite of the Ganeti 3.0 command line Ganeti wrote for it. Each is reduced to
// what the guest and the storage see, by place: each device's driver, boot index and write cache,
// and the node behind it (protocol, path, cache, aio, discard, read-only).
import type { Props } from "../../src/blockdev/model.js";
import { parseOptString, readKvmArgv, splitOptions } from "../../src/ganeti/kvm-argv.js";
import type { RuntimeDiskEntry, RuntimeDocument } from "../../src/generated/common.js";
import { rewriteArgv } from "../../src/launcher/rewrite.js";
import { runHook } from "./hook.js";

export type Layout = Record<string, Props>;
type PathKind = (p: string) => "file" | "block" | undefined;

/** The devices of storage, as against the rest of Ganeti's command line (balloon, NICs). */
const STORAGE_DRIVERS = new Set([
  "virtio-blk-pci",
  "ide-hd",
  "ide-cd",
  "scsi-hd",
  "scsi-cd",
  "floppy",
  "isa-fdc",
  "virtio-scsi-pci",
  "lsi",
  "lsi53c895a",
  "megasas",
  "mptsas1068",
  "pvscsi",
]);

/**
 * QEMU's default CD-ROM, which the launcher creates where Ganeti 3.0's command line had it
 * implicitly (keptDefaultCdrom): not storage Ganeti asked for, so not part of either plan.
 */
export const isDefaultCdrom = (d: Props): boolean => d["driver"] === "ide-cd" && d["drive"] === undefined;

/** A node's options, as strings (JSON's false and an absent option are the same here). */
function nodeFacts(props: Props): Props {
  const file = props["file"] as Props;
  const cache = (props["cache"] ?? {}) as Props;
  return {
    driver: String(props["driver"]),
    protocol: String(file["driver"]),
    location: String(file["filename"] ?? file["url"] ?? JSON.stringify(file["server"] ?? "")),
    aio: String(file["aio"] ?? "threads"),
    direct: String(cache["direct"] ?? false),
    "no-flush": String(cache["no-flush"] ?? false),
    "read-only": String(props["read-only"] ?? false),
    discard: String(props["discard"] ?? "ignore"),
  };
}

const PLACE_KEYS = ["driver", "bus", "addr", "scsi-id", "unit", "bootindex", "write-cache"];
/** QEMU's aliases of device drivers (Ganeti writes `lsi`). */
const ALIASES: Record<string, string> = { lsi: "lsi53c895a" };

/** A device's guest-visible facts, values as strings (key=value and JSON differ only in that). */
function deviceFacts(props: Props): Props {
  const out: Props = {};
  for (const k of PLACE_KEYS) if (props[k] !== undefined) out[k] = String(props[k]);
  out["driver"] = ALIASES[String(out["driver"])] ?? String(out["driver"]);
  if (typeof out["addr"] === "string") out["addr"] = `0x${Number(out["addr"]).toString(16)}`;
  return out;
}

/**
 * Where the guest finds a device: its bus and address, or its id where QEMU picks the place. Names
 * are not compared: Ganeti 3.0 leaves IDE disks anonymous (`-drive if=ide`), so the launcher cannot
 * give them the uuid-based names instance-start does. The layout suite checks Ganeti's ids apart.
 */
function placeOf(props: Props, i: number): string {
  const bus = props["bus"];
  const at = props["addr"] ?? props["scsi-id"] ?? props["unit"];
  return bus !== undefined && at !== undefined ? `${bus}/${String(at)}` : String(props["id"] ?? `${props["driver"]}#${i}`);
}

/** Where a start puts each device, with the node behind it, by place. */
function reduce(nodes: Props[], devices: Props[]): Layout {
  const byName = new Map(nodes.map((n) => [String(n["node-name"]), nodeFacts(n)]));
  const layout: Layout = {};
  devices.forEach((d, i) => {
    const node = d["drive"] === undefined ? undefined : byName.get(String(d["drive"]));
    layout[placeOf(d, i)] = node ? { ...deviceFacts(d), node } : deviceFacts(d);
  });
  return layout;
}

/**
 * instance-start's plan, as the hook itself prints it (its paths' kinds from this host, as at a
 * real start): from Ganeti's hook environment, or from a runtime document given as its JSON input.
 */
async function hookPlan(env: Record<string, string>, json?: RuntimeDocument): Promise<Layout> {
  const args = ["--qemu-version", "7.2.0", "--no-url-check"];
  const res = await runHook("instance-start", env, json ? { args, stdin: JSON.stringify(json) } : { args });
  if (res.code !== 0) throw new Error(`instance-start failed: ${res.stderr}`);
  const opts = splitOptions(res.json.argv as string[]);
  return reduce(
    opts.filter((o) => o.name === "blockdev").map((o) => JSON.parse(o.value ?? "{}") as Props),
    opts.filter((o) => o.name === "device").map((o) => JSON.parse(o.value ?? "{}") as Props),
  );
}

/** instance-start's plan from Ganeti's hook environment (the hvparams and disks Ganeti exports). */
export const startPlan = (env: Record<string, string>): Promise<Layout> => hookPlan(env);

/**
 * instance-start's plan from a runtime document's hvparams and disks, each disk's recorded
 * placement dropped: the plan is made from the hvparams alone.
 */
export function runtimePlan(doc: RuntimeDocument, name: string): Promise<Layout> {
  const unplaced = doc[3].map(([disk, link, uri]): RuntimeDiskEntry => {
    const { hvinfo: _, ...rest } = disk;
    return [rest, link, uri];
  });
  const env = { GANETI_HOOKS_PHASE: "pre", GANETI_INSTANCE_NAME: name, GANETI_INSTANCE_DISK_COUNT: "0" };
  return hookPlan(env, [doc[0], doc[1], doc[2], unplaced]);
}

/** The launcher's rewrite of Ganeti 3.0's command line (without argv[0]). */
export function launcherPlan(argv: readonly string[], pathKind: PathKind): Layout {
  const rewritten = rewriteArgv(readKvmArgv(argv), { pathKind });
  const opts = splitOptions(rewritten);
  const nodes = opts.filter((o) => o.name === "blockdev").map((o) => JSON.parse(o.value ?? "{}") as Props);
  const devices = opts
    .filter((o) => o.name === "device")
    .map((o) => Object.fromEntries(parseOptString(o.value ?? "", "driver")) as Props)
    .filter((d) => STORAGE_DRIVERS.has(String(d["driver"])) && !isDefaultCdrom(d));
  return reduce(nodes, devices);
}
