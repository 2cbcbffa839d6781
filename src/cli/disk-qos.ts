import { readHookEnv } from "../ganeti/env.js";
import { appendLog } from "../host/plugin-log.js";
import { InstanceSession, runsHere } from "../hotplug/session.js";
import { recordOf, recordTargets, writeQosRecord } from "../qos/record.js";
import { setRunningLimits } from "../qos/running.js";
import { COMMON_FLAGS, nodePaths, PATH_FLAGS } from "./args.js";
import { timeouts } from "./hotplug.js";
import { runHook } from "./program.js";

const NAME = "disk-qos";

const SUMMARY = `Usage: $0 [options]

Per-disk I/O limits from the instance's tags (GANETI_INSTANCE_TAGS; the GANETI_POST_ view wins):
  disk-qos:disk<N>:<knob>:<value>   limits Ganeti's disk N on its own;
  disk-qos:all:<knob>:<value>       one throttle group that all the instance's disks share.
Knobs: iops, iops-rd, iops-wr, bps, bps-rd, bps-wr, each also with -max (its burst). Values:
positive integers; bps values may end in K, M or G (KiB/s, MiB/s, GiB/s). A disk limit and an
all limit on one instance are refused (a disk is in one throttle group).

Run by Ganeti before an instance start, soft reboot, migration and failover (on every node of the
operation) and after an instance add. It records the tags and the disks' uuids on this node, where
the launcher reads them at QEMU's start and sets the limits before the guest runs. In a post phase
(an add), on the node where the instance runs, it sets them on the running VM over QMP.
A tag change runs no Ganeti hook: run \`ganeti-qemu-blockdev qos INSTANCE\` on the master after one.

Exit status: 0 done; 1 failed; 2 a malformed disk-qos: tag (one line naming it; nothing recorded
or applied, and in a pre phase Ganeti does not go on).`;

void runHook(NAME, SUMMARY, [...COMMON_FLAGS, ...PATH_FLAGS], async (args) => {
  const env = readHookEnv(process.env);
  const view = env.post ?? env.pre;
  const record = recordOf(view.tags, view.disks);
  const { targets } = recordTargets(record); // a malformed tag stops here, before anything is written
  const paths = nodePaths(args);
  const log = (line: string) => appendLog(process.env, NAME, `${view.name}: ${line}`);
  const path = writeQosRecord(paths.qmpDir, view.name, record);
  if (path) log(`recorded ${record.tags.join(" ")} (${path})`);
  if (process.env["GANETI_HOOKS_PHASE"] !== "post" || !record.tags.length || !runsHere(paths, view.name)) return 0;
  const timeout = timeouts(args);
  const session = await InstanceSession.open(view.name, { paths, qmpTimeoutMs: timeout("qmp"), lockTimeoutMs: timeout("lock") });
  try {
    const { changes } = await setRunningLimits(await session.client(), targets);
    for (const c of changes) log(`I/O limits: ${c}`);
  } finally {
    session.close();
  }
  return 0;
});
