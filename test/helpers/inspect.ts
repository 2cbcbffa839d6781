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
