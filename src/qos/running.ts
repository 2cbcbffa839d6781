import {
  describeLimits,
  hasLimits,
  type Limits,
  limitsOf,
  sameLimits,
  type ThrottleTarget,
  throttleArguments,
} from "../blockdev/qos.js";
import type { QmpClient } from "../qmp/client.js";

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

/** The limits of every device with a medium, by device id; `asked` says which bursts to report. */
export async function runningLimits(
  qmp: QmpClient,
  asked: (id: string) => Limits = () => ({}),
): Promise<Map<string, RunningLimits>> {
  const out = new Map<string, RunningLimits>();
  for (const b of await qmp.execute<BlockInfo[]>("query-block")) {
    if (!b.qdev || !b.inserted) continue;
    const id = deviceIdOfQdev(b.qdev);
    const limits = limitsOf(b.inserted, asked(id));
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
  const asked = (id: string) => targets.find((t) => t.id === id)?.limits ?? {};
  const before = await runningLimits(qmp, asked);
  const changes = await applyThrottles(qmp, targets, before);
  const after = changes.length ? await runningLimits(qmp, asked) : before;
  return { changes, disks: targets.map((target) => ({ target, running: after.get(target.id) })) };
}

/** Whether QEMU enforces what the target asks (the same rates, and the group where there are any). */
export const enforced = (s: DiskLimitsState): boolean =>
  s.running !== undefined &&
  sameLimits(s.running.limits, s.target.limits) &&
  (!hasLimits(s.target.limits) || s.running.group === s.target.group);
