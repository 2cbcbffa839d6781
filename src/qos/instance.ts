import { describeLimits, hasLimits, qosPolicy } from "../blockdev/qos.js";
import { PluginError } from "../errors.js";
import { listField } from "../ganeti/cli-output.js";
import type { NodePaths } from "../ganeti/paths.js";
import { builtin } from "../host/builtin.js";
import { InstanceSession, runsHere } from "../hotplug/session.js";
import { type QosRecord, readQosRecord, recordTargets, writeQosRecord } from "../qos/record.js";
import { enforced, setRunningLimits } from "../qos/running.js";

/** An instance's tags, disks and primary node as Ganeti's configuration holds them now. */
export interface GanetiQos extends QosRecord {
  pnode: string;
}

/**
 * `gnt-instance list -o tags,disk.uuids,pnode` (the master's configuration; no lock taken; lists
 * read by listField). Undefined where Ganeti's CLI does not
 * answer (not the master, or no Ganeti).
 */
export function ganetiQos(instance: string): Promise<GanetiQos | undefined> {
  const { execFile } = builtin<typeof import("node:child_process")>("node:child_process");
  const args = ["list", "--no-headers", "--separator=|", "-o", "tags,disk.uuids,pnode", instance];
  return new Promise((resolve) => {
    execFile("gnt-instance", args, { encoding: "utf8", timeout: 60_000 }, (err, stdout) => {
      const [tags, disks, pnode] = stdout.trim().split("|");
      resolve(err || pnode === undefined ? undefined : { tags: listField(tags ?? ""), disks: listField(disks ?? ""), pnode });
    });
  });
}

export interface QosRequest {
  instance: string;
  paths: NodePaths;
  qmpTimeoutMs: number;
  lockTimeoutMs: number;
  /** The operator's tags (--tags), in place of Ganeti's. */
  tags?: string[];
  /** The disks' uuids by index (--disk-uuids), in place of Ganeti's or the node's record. */
  disks?: string[];
}

/**
 * What the instance's limits are to be: the operator's tags, else Ganeti's (on the master), else
 * the node's record (what the last hook saw). The disks' uuids likewise.
 */
async function wanted(req: QosRequest): Promise<{ record: QosRecord; from: string; pnode?: string }> {
  if (req.tags) qosPolicy(req.tags); // the operator's tags are checked before anything is asked
  const ganeti = req.tags && req.disks ? undefined : await ganetiQos(req.instance);
  const recorded = readQosRecord(req.paths.qmpDir, req.instance);
  const tags = req.tags ?? ganeti?.tags ?? recorded?.tags;
  const disks = req.disks ?? ganeti?.disks ?? recorded?.disks;
  if (!tags || !disks) {
    throw new PluginError(
      "QOS_UNKNOWN",
      `${req.instance}: its tags are not known here (Ganeti's CLI does not answer on this node, and no hook recorded them); run this on the master, or give --tags and --disk-uuids`,
    );
  }
  const from = req.tags ? "--tags" : ganeti ? "Ganeti's configuration" : "this node's record";
  return ganeti ? { record: { tags, disks }, from, pnode: ganeti.pnode } : { record: { tags, disks }, from };
}

/**
 * `ganeti-qemu-blockdev qos INSTANCE`: sets the running VM's I/O limits to its tags (one line per
 * change, through `say`), records them for the next start, and returns the limits QEMU enforces per
 * disk. On the master, an instance whose primary is another node is handed to that node through
 * `gnt-cluster command`, with the tags and disks Ganeti has.
 */
export async function instanceQos(req: QosRequest, say: (line: string) => void): Promise<string[]> {
  const { record, from, pnode } = await wanted(req);
  const { targets } = recordTargets(record);
  if (!runsHere(req.paths, req.instance)) {
    if (pnode === undefined) {
      throw new PluginError(
        "NOT_RUNNING_HERE",
        `instance ${req.instance} does not run on this node (no QMP socket in ${req.paths.qmpDir})`,
      );
    }
    return onPrimary(req.instance, pnode, record);
  }
  writeQosRecord(req.paths.qmpDir, req.instance, record);
  const session = await InstanceSession.open(req.instance, req);
  try {
    const { changes, disks } = await setRunningLimits(await session.client(), targets);
    for (const c of changes) say(`${req.instance}: set ${c}`);
    return [
      `${req.instance}: limits from ${from}${record.tags.length ? ` (${record.tags.join(" ")})` : " (no disk-qos: tag)"}`,
      ...disks.map((d) => {
        const r = d.running;
        const now =
          r === undefined ? "not attached" : `${describeLimits(r.limits)}${hasLimits(r.limits) ? ` (group ${r.group})` : ""}`;
        return `disk${d.target.index} ${d.target.id}: ${now}${enforced(d) || r === undefined ? "" : ` (the tags ask ${describeLimits(d.target.limits)})`}`;
      }),
    ];
  } finally {
    session.close();
  }
}

/** The same command on the instance's primary node, with what Ganeti holds; its output as ours. */
function onPrimary(instance: string, pnode: string, record: QosRecord): string[] {
  const { spawnSync } = builtin<typeof import("node:child_process")>("node:child_process");
  const cmd = [
    "ganeti-qemu-blockdev",
    "qos",
    instance,
    "--tags",
    `'${record.tags.join(" ")}'`,
    "--disk-uuids",
    record.disks.join(",") || "''",
  ];
  const r = spawnSync("gnt-cluster", ["command", "-n", pnode, cmd.join(" ")], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) {
    throw new PluginError(
      "QOS_REMOTE_FAILED",
      `${instance}: on its primary node ${pnode}: ${(r.stdout + r.stderr).trim().split("\n").slice(-3).join(" / ")}`,
    );
  }
  return r.stdout
    .trim()
    .split("\n")
    .filter((l) => l && !/^-+$|^(cmd|node|return code)\s*[:=]/.test(l));
}
