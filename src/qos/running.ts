import {
  describeLimits,
  hasLimits,
  type Limits,
  limitsOf,
  sameLimits,
  type ThrottleTarget,
  throttleArguments,
} from "../blockdev/qos.js";
import type { NodeStatus } from "../generated/node-status.js";
import { QmpClient } from "../qmp/client.js";

/** What QEMU enforces on one disk's device now (query-block). */
export interface RunningLimits {
  limits: Limits;
  group?: string;
  /** query-block's name of the device's BlockBackend, which block_set_io_throttle takes. */
  qdev: string;
}

/**
 * query-block's `qdev` names the device a BlockBackend is attached to: its id, or its QOM path
 * where the attached object has none (virtio-blk's backend, /machine/peripheral/<id>/virtio-backend).
 */
export function deviceIdOfQdev(qdev: string): string {
  const m = /^\/machine\/peripheral\/([^/]+)/.exec(qdev);
  return m ? (m[1] as string) : qdev;
}

interface BlockInfo {
  qdev?: string;
  inserted?: Record<string, unknown> & { group?: string };
}

/** The limits of every device with a medium, by device id. */
export async function runningLimits(qmp: QmpClient): Promise<Map<string, RunningLimits>> {
  const out = new Map<string, RunningLimits>();
  for (const b of await qmp.execute<BlockInfo[]>("query-block")) {
    if (!b.qdev || !b.inserted) continue;
    const id = deviceIdOfQdev(b.qdev);
    const limits = limitsOf(b.inserted);
    out.set(
      id,
      hasLimits(limits) && b.inserted.group ? { limits, group: b.inserted.group, qdev: b.qdev } : { limits, qdev: b.qdev },
    );
  }
  return out;
}

/** One change made: which disk, from what to what (a line of the action log). */
export const changeLine = (t: ThrottleTarget, before: Limits | undefined) =>
  `disk${t.index} (${t.id}): ${describeLimits(t.limits)}${hasLimits(t.limits) ? ` (group ${t.group})` : ""}${
    before === undefined ? "" : `, was ${describeLimits(before)}`
  }`;

/**
 * Sets each target's limits where QEMU's differ (`running`; undefined at start, where a device has
 * none yet): one block_set_io_throttle per disk changed, sent together. The lines of what changed.
 */
export async function applyThrottles(
  qmp: QmpClient,
  targets: readonly ThrottleTarget[],
  running?: ReadonlyMap<string, RunningLimits>,
): Promise<string[]> {
  const todo = targets.filter((t) => {
    const now = running?.get(t.id);
    if (!running) return hasLimits(t.limits);
    if (!now) return false; // no such device here (a disk not attached): nothing to set
    return !sameLimits(now.limits, t.limits) || (hasLimits(t.limits) && now.group !== t.group);
  });
  await Promise.all(
    todo.map((t) => qmp.execute("block_set_io_throttle", throttleArguments({ ...t, qdev: running?.get(t.id)?.qdev ?? t.qdev }))),
  );
  return todo.map((t) => changeLine(t, running?.get(t.id)?.limits));
}

/** What a disk's limits are after a live change: QEMU's answer and the policy's, side by side. */
export interface DiskLimitsState {
  target: ThrottleTarget;
  /** What QEMU enforces (after the change); undefined when the disk's device is not attached. */
  running: RunningLimits | undefined;
}

/**
 * Brings a running QEMU's limits to the targets': query-block once, then one block_set_io_throttle
 * per disk that differs. The changes made, and each disk's state as QEMU reports it afterwards.
 */
export async function setRunningLimits(
  qmp: QmpClient,
  targets: readonly ThrottleTarget[],
): Promise<{ changes: string[]; disks: DiskLimitsState[] }> {
  const before = await runningLimits(qmp);
  const changes = await applyThrottles(qmp, targets, before);
  const after = changes.length ? await runningLimits(qmp) : before;
  return { changes, disks: targets.map((target) => ({ target, running: after.get(target.id) })) };
}

/** Whether QEMU enforces what the target asks (the same rates, and the group where there are any). */
export const enforced = (s: DiskLimitsState): boolean =>
  s.running !== undefined &&
  sameLimits(s.running.limits, s.target.limits) &&
  (!hasLimits(s.target.limits) || s.running.group === s.target.group);

/** How long verify waits for one instance's QMP (a hook may hold it: then that instance is not compared). */
const VERIFY_QMP_TIMEOUT_MS = 2000;

/**
 * The limits QEMU enforces on each disk of each instance named, asked once each over its QMP
 * socket (for `status --json`, which the master's verify compares with the tags). An instance
 * whose QEMU does not answer in time is left out.
 */
export async function nodeLimits(
  qmpDir: string,
  instances: readonly string[],
): Promise<{ instance: string; disks: { id: string; limits: Limits; group?: string }[] }[]> {
  const one = async (instance: string) => {
    let qmp: QmpClient | undefined;
    try {
      qmp = await QmpClient.connect(`${qmpDir}/${instance}.qmp`, {
        timeoutMs: VERIFY_QMP_TIMEOUT_MS,
        commandTimeoutMs: VERIFY_QMP_TIMEOUT_MS,
      });
      const running = await runningLimits(qmp);
      return [
        {
          instance,
          disks: [...running].map(([id, r]) => (r.group ? { id, limits: r.limits, group: r.group } : { id, limits: r.limits })),
        },
      ];
    } catch {
      return [];
    } finally {
      qmp?.close();
    }
  };
  return (await Promise.all(instances.map(one))).flat();
}

/** A node's status with the limits of its running instances (see nodeLimits). */
export async function withLimits(status: NodeStatus, qmpDir: string): Promise<NodeStatus> {
  const running = status.running?.map((r) => r.instance) ?? [];
  return running.length ? { ...status, limits: await nodeLimits(qmpDir, running) } : status;
}
