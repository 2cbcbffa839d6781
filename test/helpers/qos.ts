import { join } from "node:path";
import type { QmpClient } from "../../src/qmp/client.js";
import { loadEnv, ROOT, runHook } from "./hook.js";
import { type BlockInfo, queryBlock } from "./inspect.js";
import type { Node } from "./launcher.js";

/** What the per-disk I/O limit suites share: the recorded instance, its disks, the hook, QEMU's view. */
export const QOS_START_ENV = loadEnv("ganeti-3.0.2/instance-start-pre.env");
/** The recorded instance's disks, as Ganeti names their devices. */
export const DISK0 = "disk-077af63e-1010-4f10";
export const DISK1 = "disk-10aa34ab-09b5-44dc";
export const PLUGIN_COMMAND = join(ROOT, "bin/ganeti-qemu-blockdev");

/** The disk-qos hook as Ganeti runs it before a start on this node, with these tags. */
export const recordTags = (n: Node, tags: string) =>
  runHook("disk-qos", { ...QOS_START_ENV, GANETI_INSTANCE_TAGS: tags }, { args: ["--qmp-dir", join(n.dir, "ctrl")] });

/** What QEMU enforces on a device: query-block's throttle fields (0 = none; a burst only when set) and group. */
export interface Throttle {
  bps: unknown;
  bps_max: unknown;
  bps_wr: unknown;
  iops: unknown;
  iops_wr: unknown;
  group: unknown;
}
export async function throttleOf(q: QmpClient, id: string): Promise<Throttle> {
  const b = (await queryBlock(q)).find((x: BlockInfo) => x.qdev === id || x.qdev?.startsWith(`/machine/peripheral/${id}/`));
  const i = (b?.inserted ?? {}) as Record<string, unknown>;
  return { bps: i["bps"], bps_max: i["bps_max"], bps_wr: i["bps_wr"], iops: i["iops"], iops_wr: i["iops_wr"], group: i["group"] };
}

/** Migrates `source` to an -incoming target on 127.0.0.1:`port`; QEMU's final status. */
export async function migrateTo(source: QmpClient, port: number, timeoutMs = 60_000): Promise<string> {
  await source.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
  let status = "";
  for (const end = Date.now() + timeoutMs; Date.now() < end && status !== "completed" && status !== "failed"; ) {
    status = (await source.execute<{ status?: string }>("query-migrate")).status ?? "";
    await new Promise((res) => setTimeout(res, 50));
  }
  return status;
}
