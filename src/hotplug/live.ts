import type { QemuCaps } from "../blockdev/model.js";
import { ioUringStatus } from "../host/qemu-caps.js";
import type { QmpClient } from "../qmp/client.js";
import { schemaFacts } from "../qmp/schema.js";

export interface BlockEntry {
  device: string;
  qdev: string;
  inserted?: { "node-name": string; ro: boolean; image?: { "virtual-size": number } };
}

/**
 * One look at the VM: its devices with an id (qdev id → QOM type, from /machine/peripheral), its
 * block node names, and query-block. A hook run takes it once and keeps it until it changes the VM
 * (driver.ts): under the instance's lock, nothing else of ours changes it meanwhile.
 */
export interface Seen {
  devices: Map<string, string>;
  nodes: Set<string>;
  blocks: BlockEntry[];
}

/** What the running VM has right now, as QEMU reports it; slot choices are made from this. */
export interface LiveState extends Seen {
  pciSlots: Set<number>;
  scsiIds: Set<number>;
}

/** Where QEMU keeps the devices that have an id, and one of them. */
const PERIPHERAL = "/machine/peripheral";
export const peripheralPath = (id: string) => `${PERIPHERAL}/${id}`;

const SCSI_DEVICE_TYPES = new Set(["scsi-hd", "scsi-cd", "scsi-block", "scsi-generic"]);

/** Devices with an id (qdev id → QOM type), from /machine/peripheral. */
export async function peripheralDevices(qmp: QmpClient): Promise<Map<string, string>> {
  const peripheral = await qmp.execute<{ name: string; type: string }[]>("qom-list", { path: PERIPHERAL });
  const devices = new Map<string, string>();
  for (const p of peripheral) {
    const m = /^child<(.+)>$/.exec(p.type);
    if (m) devices.set(p.name, m[1] as string);
  }
  return devices;
}

export const queryBlock = (qmp: QmpClient) => qmp.execute<BlockEntry[]>("query-block");

/** Our devices (qdev id → QOM type) and block node names: enough to tell what is attached. */
export async function presence(qmp: QmpClient): Promise<Pick<LiveState, "devices" | "nodes">> {
  // Sent back to back: QEMU answers in order, so the round trips overlap.
  const [devices, nodes] = await Promise.all([
    peripheralDevices(qmp),
    qmp.execute<{ "node-name": string }[]>("query-named-block-nodes", { flat: true }),
  ]);
  return { devices, nodes: new Set(nodes.map((n) => n["node-name"])) };
}

/** The three questions of a look, sent back to back (QEMU answers in order, so the round trips overlap). */
export async function look(qmp: QmpClient): Promise<Seen> {
  const [{ devices, nodes }, blocks] = await Promise.all([presence(qmp), queryBlock(qmp)]);
  return { devices, nodes, blocks };
}

/**
 * A look at the VM with the slots of the bus a new disk goes on: SCSI ids (one qom-get per SCSI
 * device) or the PCI root's slots. `seen` is a look taken earlier in the same run, still true.
 */
export async function liveState(qmp: QmpClient, opts: { scsi: boolean }, seen?: Seen): Promise<LiveState> {
  const [{ devices, nodes, blocks }, pci] = await Promise.all([
    seen ?? look(qmp),
    opts.scsi ? [] : qmp.execute<{ bus: number; devices: { slot: number }[] }[]>("query-pci"),
  ]);
  const scsiIds = new Set<number>();
  if (opts.scsi) {
    const ids = [...devices].filter(([, type]) => SCSI_DEVICE_TYPES.has(type)).map(([id]) => id);
    const values = await Promise.all(
      ids.map((id) => qmp.execute<number>("qom-get", { path: peripheralPath(id), property: "scsi-id" })),
    );
    for (const v of values) scsiIds.add(v);
  }
  return {
    devices,
    pciSlots: new Set((pci.find((b) => b.bus === 0)?.devices ?? []).map((d) => d.slot)),
    scsiIds,
    nodes,
    blocks,
  };
}

/** The query-block entry of a device: SCSI/IDE report the id, virtio-blk its backend's QOM path. */
export function blockOf(blocks: readonly BlockEntry[], id: string): BlockEntry | undefined {
  return blocks.find((b) => b.qdev === id || b.qdev === `${peripheralPath(id)}/virtio-backend`);
}

/**
 * What can be checked before connecting: the host kernel's io_uring rule. QEMU's version and build
 * are not known yet, so they are assumed able (liveCaps says what they are).
 */
export const hostCaps = (): QemuCaps => {
  const version = [99, 0, 0] as const;
  return { version, ioUring: ioUringStatus(version) };
};

/**
 * The running QEMU's capabilities, from its greeting and, when io_uring is asked for, its schema
 * (query-qmp-schema is ~150 KB: only then).
 */
export async function liveCaps(qmp: QmpClient, needIoUring: boolean): Promise<QemuCaps> {
  const v = qmp.version;
  const version = [v.major, v.minor, v.micro] as const;
  const builtWith = needIoUring ? (await schemaFacts(qmp)).ioUring : undefined;
  return { version, ioUring: ioUringStatus(version, builtWith === undefined ? {} : { builtWith }) };
}
