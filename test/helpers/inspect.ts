import type { QmpClient } from "../../src/qmp/client.js";

export interface BlockInfo {
  device: string;
  qdev: string;
  inserted?: {
    "node-name": string;
    ro: boolean;
    drv: string;
    cache: { writeback: boolean; direct: boolean; "no-flush": boolean };
  };
}
export interface NodeInfo {
  "node-name": string;
  drv: string;
  ro: boolean;
  file: string;
  cache: { writeback: boolean; direct: boolean; "no-flush": boolean };
}

export const queryBlock = (q: QmpClient) => q.execute<BlockInfo[]>("query-block");
export const namedNodes = (q: QmpClient) => q.execute<NodeInfo[]>("query-named-block-nodes");
export async function peripheralIds(q: QmpClient): Promise<string[]> {
  const list = await q.execute<{ name: string; type: string }[]>("qom-list", { path: "/machine/peripheral" });
  return list
    .filter((p) => p.type.startsWith("child<"))
    .map((p) => p.name)
    .sort();
}
export const qomGet = <T = unknown>(q: QmpClient, path: string, property: string) =>
  q.execute<T>("qom-get", { path: path.startsWith("/") ? path : `/machine/peripheral/${path}`, property });

/** The query-block entry of a device id (virtio-blk shows its backend path there). */
export async function blockOf(q: QmpClient, id: string): Promise<BlockInfo | undefined> {
  return (await queryBlock(q)).find((b) => b.qdev === id || b.qdev === `/machine/peripheral/${id}/virtio-backend`);
}

/** Runs a qemu-io command through a device's backend (HMP): I/O on a disk without a guest. */
export async function qemuIo(q: QmpClient, deviceId: string, cmd: string): Promise<string> {
  // -d wants the qdev that owns the backend: for virtio-blk that is its virtio-backend child.
  const qdev = (await blockOf(q, deviceId))?.qdev ?? deviceId;
  const out = await q.execute<string>("human-monitor-command", { "command-line": `qemu-io -d ${qdev} "${cmd}"` });
  if (/^Error|error/i.test(out)) throw new Error(`qemu-io ${cmd}: ${out.trim()}`);
  return out;
}

/** What the guest sees of one storage device, whatever its ids and backends are called. */
export interface SeenDevice {
  type: string;
  bus: string;
  /** PCI slot.function, IDE/floppy unit or SCSI id: where on its bus. */
  at: string;
  medium: boolean;
  ro?: boolean;
}

/**
 * The guest-visible storage layout: every PCI function (slot, vendor, device) and every block
 * device QEMU has (its type, bus, position, and whether a medium is in it). Two VMs whose layouts
 * are equal look the same to their guests, which a live migration needs.
 */
export async function guestLayout(q: QmpClient): Promise<{ pci: string[]; storage: SeenDevice[] }> {
  const pci =
    await q.execute<{ bus: number; devices: { slot: number; function: number; id: { vendor: number; device: number } }[] }[]>(
      "query-pci",
    );
  const storage: SeenDevice[] = [];
  for (const b of await queryBlock(q)) {
    if (!b.qdev) continue;
    const path = b.qdev.startsWith("/") ? b.qdev.replace(/\/virtio-backend$/, "") : `/machine/peripheral/${b.qdev}`;
    const type = await qomGet<string>(q, path, "type");
    const bus = (await qomGet<string>(q, path, "parent_bus")).split("/").at(-1) ?? "";
    let at: string;
    if (type.startsWith("scsi-")) at = `scsi-id ${await qomGet<number>(q, path, "scsi-id")}`;
    else if (type.startsWith("ide-") || type === "floppy") at = `unit ${await qomGet<number>(q, path, "unit")}`;
    else at = `addr ${(await qomGet<number>(q, path, "addr")).toString(16)}`;
    const seen: SeenDevice = { type, bus, at, medium: b.inserted !== undefined };
    if (b.inserted) seen.ro = b.inserted.ro;
    storage.push(seen);
  }
  return {
    pci: pci.flatMap((p) =>
      p.devices.map((d) => `${p.bus}:${d.slot}.${d.function} ${d.id.vendor.toString(16)}:${d.id.device.toString(16)}`),
    ),
    storage: storage.sort((a, b) => `${a.bus} ${a.at}`.localeCompare(`${b.bus} ${b.at}`)),
  };
}
