import { isHotpluggableDriver } from "../blockdev/devices.js";
import { fileNodeName, isDiskDeviceId } from "../blockdev/ids.js";
import { runtimeFile } from "../ganeti/paths.js";
import { readRuntime } from "../ganeti/runtime.js";
import type { RuntimeDocument } from "../generated/common.js";
import { PACKAGE } from "../host/plugin-files.js";
import type { QmpClient } from "../qmp/client.js";
import { reason } from "../qmp/errors.js";
import { look, type Seen } from "./live.js";
import { updateRuntime } from "./runtime-file.js";
import { InstanceSession, type SessionOptions } from "./session.js";

/** The operator command that reconciles one instance from its name alone (bin/). */
export const RECONCILE_COMMAND = `${PACKAGE} reconcile`;

export interface Reconciled {
  /** The runtime document to write, when an entry was dropped. */
  doc?: RuntimeDocument;
  /** One line per action taken or refused. */
  actions: string[];
  /** The VM as the reconcile leaves it: its look, less the nodes it deleted. */
  seen: Seen;
}

/**
 * Brings QEMU and the runtime file back in line after work that nobody finished: Ganeti's
 * hot-remove, whose HMP drive_del cannot delete a -blockdev node (QEMU answers "in use" and Ganeti
 * does not read it), and unplugs that the guest completed after a hook had given up waiting.
 * - A disk node that no device uses (not attached to any BlockBackend) is deleted, and so is a
 *   protocol child left without its parent.
 * - A runtime entry of a hot-pluggable disk whose device QEMU no longer has is dropped: the
 *   runtime file is what Ganeti's soft reboots and migrations start QEMU from, so it follows QEMU
 *   (a hard restart takes Ganeti's config again). IDE disks are never touched: under stock Ganeti
 *   they have no device id to look for.
 * Entries of the disks a hook is about to add (`adding`, by uuid) stay: a slot recorded for such a
 * disk is the one to give it. Run it under the instance lock, as the hooks do.
 */
export async function reconcile(
  qmp: QmpClient,
  doc: RuntimeDocument | undefined,
  adding: ReadonlySet<string> = new Set(),
): Promise<Reconciled> {
  const seen = await look(qmp);
  const { devices, nodes, blocks } = seen;
  const inUse = new Set(blocks.flatMap((b) => (b.inserted ? [b.inserted["node-name"]] : [])));
  const actions: string[] = [];
  const left = new Set(nodes);
  const del = async (name: string, why: string) => {
    try {
      await qmp.execute("blockdev-del", { "node-name": name });
      left.delete(name);
      actions.push(`deleted block node ${name}, ${why}`);
    } catch (e) {
      actions.push(`block node ${name} is ${why.replace(/^which /, "")} but could not be deleted: ${reason(e)}`);
    }
  };
  for (const name of nodes) {
    if (isDiskDeviceId(name) && !inUse.has(name) && !devices.has(name)) await del(name, "which no device used");
  }
  for (const name of nodes) {
    const parent = name.slice(0, -"-file".length);
    if (name === fileNodeName(parent) && isDiskDeviceId(parent) && !nodes.has(parent))
      await del(name, "which its disk node left behind");
  }
  const after = { devices, nodes: left, blocks };
  if (!doc) return { actions, seen: after };
  const kept = doc[3].filter(([disk]) => {
    const hv = disk.hvinfo;
    if (!hv || !isHotpluggableDriver(hv.driver) || devices.has(hv.id) || adding.has(disk.uuid)) return true;
    actions.push(`dropped the runtime entry of disk ${disk.uuid} (${hv.id}), which QEMU no longer has`);
    return false;
  });
  return kept.length === doc[3].length ? { actions, seen: after } : { doc: [doc[0], doc[1], doc[2], kept], actions, seen: after };
}

/** Reconciles one instance from its name alone (the operator command): its actions, one line each. */
export async function reconcileInstance(name: string, options: SessionOptions): Promise<string[]> {
  const runtimePath = runtimeFile(options.paths, name);
  const session = await InstanceSession.open(name, options);
  try {
    const qmp = await session.client();
    const base = readRuntime(runtimePath); // under the lock, as every write of it is
    const { actions, doc } = await reconcile(qmp, base);
    if (doc) updateRuntime({ runtime: base, runtimePath: base ? runtimePath : undefined }, () => doc, base);
    return actions;
  } finally {
    session.close();
  }
}
