import { hostname } from "node:os";
import { InputError } from "../errors.js";
import { DEFAULT_PATHS } from "../ganeti/paths.js";
import { DEFAULT_HOOKS_DIR, PACKAGE } from "../host/plugin-files.js";
import {
  askNodes,
  clusterProblems,
  DEFAULT_SSCONF_DIR,
  listPlacements,
  machineGaps,
  nodesToAsk,
  qosGaps,
  readCluster,
  remoteStatus,
} from "../node/cluster-verify.js";
import { nodeStatus } from "../node/node-status.js";
import { withLimits } from "../qos/running.js";
import { COMMON_FLAGS, str } from "./args.js";
import { pluginRoot, runHook, writeFd } from "./program.js";

const NAME = "cluster-verify";
const SUMMARY = `Usage: $0 [options]

Ganeti's cluster-verify-post hook: makes \`gnt-cluster verify\` fail, with one line per problem and
node, when this node's plugin is disabled (its hooks not linked), its config is invalid, or the QEMU
behind the launcher is missing or would not try KVM on a host with /dev/kvm; and, on the master,
when another node lacks the plugin, runs another version or build, or has its launcher in front of
other QEMU paths than the master (asked over SSH, as Ganeti's master asks its nodes), and when a
running instance's machine type is missing from the QEMU of a node it could migrate or fail over to
(its DRBD secondary; any node for shared storage). Every node also reports its running instances
whose machine type its own QEMU deprecates. The master also names every running instance whose
I/O limits (what QEMU enforces on each disk) differ from its disk-qos: tags.
\`ganeti-qemu-blockdev disable\` leaves this hook linked, so that a disabled node shows in verify.

Exit status: 0 nothing to report (or not the post phase); 1 problems, one line each on stdout.`;

const FLAGS = [
  ...COMMON_FLAGS.filter((f) => f.name !== "input"),
  { name: "hooks-dir", value: "DIR", help: `Ganeti's hooks directory (default ${DEFAULT_HOOKS_DIR})` },
  { name: "ssconf-dir", value: "DIR", help: `Ganeti's ssconf files and known_hosts (default ${DEFAULT_SSCONF_DIR})` },
];

void runHook(NAME, SUMMARY, FLAGS, async (args) => {
  const phase = process.env["GANETI_HOOKS_PHASE"];
  if (phase !== undefined && phase !== "post" && phase !== "pre") {
    throw new InputError("INVALID_ENV", `GANETI_HOOKS_PHASE: must be pre or post (got ${JSON.stringify(phase)})`);
  }
  if (phase === "pre") return 0;
  // The bundle runs from the plugin's dist/; its command, at the same path on every node.
  const root = pluginRoot();
  const ssconf = str(args, "ssconf-dir") ?? DEFAULT_SSCONF_DIR;
  const cluster = readCluster(ssconf, hostname());
  const master = cluster.me !== undefined && cluster.me === cluster.master;
  const status = nodeStatus(root, str(args, "hooks-dir") ?? DEFAULT_HOOKS_DIR, `${root}/dist/${PACKAGE}.cjs`);
  const self = master ? await withLimits(status, DEFAULT_PATHS.qmpDir) : status;
  const answers = await askNodes(nodesToAsk(cluster), (node) => remoteStatus(node, `${root}/bin/${PACKAGE}`, ssconf, cluster));
  const lines = clusterProblems(self, cluster, answers);
  // The master also sees instances that some node they could move to could not take.
  if (master && cluster.me !== undefined) {
    const statuses = new Map([[cluster.me, self]]);
    for (const [node, answer] of answers) if (typeof answer !== "string") statuses.set(node, answer);
    const places = await listPlacements(cluster);
    // ... and running instances whose I/O limits are not what their disk-qos: tags ask.
    lines.push(...machineGaps(statuses, places), ...qosGaps(statuses, places));
  }
  // Named, since Ganeti shows every failed verify hook's output under the same heading.
  if (lines.length) writeFd(1, lines.map((l) => `${PACKAGE}: ${l}\n`).join(""));
  return lines.length ? 1 : 0;
});
