import { readFileSync, rmSync } from "node:fs";
import { diskDeviceId } from "../blockdev/ids.js";
import { type QosPolicy, qosPolicy, qosTags, type ThrottleTarget, throttleTargets } from "../blockdev/qos.js";
import { PluginError } from "../errors.js";
import { qosDirOf } from "../ganeti/paths.js";
import { writeAtomically } from "../host/atomic-write.js";
import { ownedAlone, privateDir } from "../host/cache-dir.js";

/**
 * What a node knows of an instance's I/O limits between Ganeti's hooks and QEMU's start: the
 * `disk-qos:` tags and the disks' uuids by index, as the last hook that saw them (start, reboot,
 * migrate, failover, add) was given. Ganeti passes nothing of tags to the QEMU it starts.
 */
export interface QosRecord {
  tags: string[];
  /** Ganeti's disk uuids, by disk index. */
  disks: string[];
}

export const qosRecordPath = (qmpDir: string, instance: string) => `${qosDirOf(qmpDir)}/${instance}.json`;

/**
 * Writes the record, or removes it when the instance has no `disk-qos:` tag. Only in a directory of
 * root's that no one else may write: the launcher acts on what it reads there.
 */
export function writeQosRecord(qmpDir: string, instance: string, record: QosRecord): string | undefined {
  const path = qosRecordPath(qmpDir, instance);
  if (!record.tags.length) {
    rmSync(path, { force: true });
    return undefined;
  }
  if (!privateDir(qosDirOf(qmpDir))) {
    throw new PluginError("QOS_DIR_UNTRUSTED", `${qosDirOf(qmpDir)} is not root's alone; the limits were not recorded`);
  }
  writeAtomically(path, `${JSON.stringify(record)}\n`, 0o600);
  return path;
}

/** The record, when there is one that only this user could have written; undefined otherwise. */
export function readQosRecord(qmpDir: string, instance: string): QosRecord | undefined {
  const path = qosRecordPath(qmpDir, instance);
  if (!ownedAlone(qosDirOf(qmpDir)) || !ownedAlone(path)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
  const r = doc as Partial<QosRecord> | null;
  return r && strings(r.tags) && strings(r.disks) ? { tags: qosTags(r.tags), disks: r.disks } : undefined;
}

/** The record of a hook's view of the instance: its qos tags, its disks' uuids. */
export const recordOf = (tags: readonly string[], disks: readonly { uuid: string }[]): QosRecord => ({
  tags: qosTags(tags),
  disks: disks.map((d) => d.uuid),
});

/** The policy a record holds, and each disk's throttle target (the device ids Ganeti gives disks). */
export function recordTargets(record: QosRecord): { policy: QosPolicy; targets: ThrottleTarget[] } {
  const policy = qosPolicy(record.tags);
  return {
    policy,
    targets: throttleTargets(
      policy,
      record.disks.map((uuid, index) => ({ index, id: diskDeviceId(uuid) })),
    ),
  };
}
