import { readFileSync } from "node:fs";
import { diskDeviceId } from "../blockdev/ids.js";
import {
  describeLimits,
  hasLimits,
  type Limits,
  qosPolicy,
  sameLimits,
  type ThrottleTarget,
  throttleTargets,
} from "../blockdev/qos.js";
import { PluginError } from "../errors.js";
import { listField } from "../ganeti/cli-output.js";
import { validateNodeStatus } from "../generated/validators.js";
import { builtin } from "../host/builtin.js";
import { check, jsonPath } from "../host/validate.js";
import { isVersioned } from "../launcher/machine-types.js";
import type { NodeStatus } from "./node-status.js";

/** Ganeti's simple-store files, on every node: the master's name and the node list. */
export const DEFAULT_SSCONF_DIR = "/var/lib/ganeti";

export interface Cluster {
  name: string;
  /** This node's name, as Ganeti lists it (undefined: the host's name is none of the nodes'). */
  me: string | undefined;
  /** The host's own name, for a line when it is none of the nodes'. */
  hostname: string;
  master: string;
  nodes: string[];
  /** Nodes Ganeti does not ask either: offline ones, and those that run no instances (not vm_capable). */
  skipped: string[];
  /** Each node's SSH port, where Ganeti's node groups set one (ssconf_ssh_ports). */
  sshPorts: Record<string, string>;
}

/**
 * Which node this is, and the cluster's master and nodes, from Ganeti's ssconf files. The files of
 * newer Ganeti (offline nodes, vm_capable, SSH ports) are optional: missing, nothing is skipped.
 */
export function readCluster(ssconfDir: string, hostname: string): Cluster {
  const read = (key: string) => readFileSync(`${ssconfDir}/ssconf_${key}`, "utf8").trim();
  const optional = (key: string) => {
    try {
      return read(key).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  /** A file of `node=value` lines. */
  const pairs = (key: string) =>
    Object.fromEntries(
      optional(key).flatMap((l) => (l.includes("=") ? [[l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]] : [])),
    );
  const master = read("master_node");
  const nodes = read("node_list").split("\n").filter(Boolean);
  // Ganeti names nodes by their FQDN; the host may call itself by the short name.
  const short = (n: string) => n.split(".")[0];
  const me = nodes.find((n) => n === hostname) ?? nodes.find((n) => short(n) === short(hostname));
  const vmCapable = pairs("node_vm_capable");
  const skipped = [...optional("offline_nodes"), ...nodes.filter((n) => vmCapable[n] === "False")];
  return {
    name: read("cluster_name"),
    me,
    hostname,
    master,
    nodes,
    skipped: [...new Set(skipped)],
    sshPorts: pairs("ssh_ports"),
  };
}

/** A word for the remote shell, which ssh hands the command to: quoted whatever it holds. */
const shellWord = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;

/**
 * A node's status as its own plugin reports it, asked over SSH as Ganeti's master asks its nodes:
 * root, no prompt, Ganeti's known_hosts under the cluster's name (every node has the cluster's host
 * key); the plugin's command at the same path as here. What the node said instead, when it fails.
 */
export function remoteStatus(
  node: string,
  command: string,
  ssconfDir: string,
  cluster: Pick<Cluster, "name" | "sshPorts">,
): Promise<NodeStatus | string> {
  const { execFile } = builtin<typeof import("node:child_process")>("node:child_process");
  const args = [
    "-oBatchMode=yes",
    "-oConnectTimeout=10",
    `-oGlobalKnownHostsFile=${ssconfDir}/known_hosts`,
    "-oUserKnownHostsFile=/dev/null",
    "-oStrictHostKeyChecking=yes",
    `-oHostKeyAlias=${cluster.name}`,
    "-lroot",
    ...(cluster.sshPorts[node] ? ["-p", cluster.sshPorts[node]] : []),
    node,
    [command, "status", "--json"].map(shellWord).join(" "),
  ];
  return new Promise((resolve) => {
    const lastLine = (text: string) => text.trim().split("\n").at(-1) || "no answer";
    const child = execFile("ssh", args, { encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return resolve(lastLine(stderr || err.message));
      resolve(statusIn(stdout));
    });
    child.stdin?.end();
  });
}

/**
 * A node's answer, checked as every other input is: a node of another plugin version, which is just
 * what verify must report, may say something else; that is one line, not a crash of the hook.
 */
export function statusIn(stdout: string): NodeStatus | string {
  try {
    return check<NodeStatus>(validateNodeStatus, JSON.parse(stdout), "BAD_ANSWER", (p) => `its answer at ${jsonPath(p)}`);
  } catch (e) {
    if (e instanceof PluginError || e instanceof SyntaxError) return `not a status it answered: ${e.message.split("\n")[0]}`;
    throw e;
  }
}

/**
 * The nodes the master asks: every other one that Ganeti's verify looks at too (not offline, and
 * vm_capable). Other nodes ask none and report only themselves.
 */
export function nodesToAsk(cluster: Cluster): string[] {
  if (cluster.me === undefined || cluster.me !== cluster.master) return [];
  return cluster.nodes.filter((n) => n !== cluster.me && !cluster.skipped.includes(n));
}

/**
 * Every node's answer, asked at the same time (at most `parallel` at once): a node that is down
 * costs verify its SSH timeout once, not once more for every node after it.
 */
export async function askNodes(
  nodes: readonly string[],
  ask: (node: string) => Promise<NodeStatus | string>,
  parallel = 16,
): Promise<Map<string, NodeStatus | string>> {
  const answers = new Map<string, NodeStatus | string>();
  let next = 0;
  const worker = async () => {
    for (let node = nodes[next++]; node !== undefined; node = nodes[next++]) answers.set(node, await ask(node));
  };
  await Promise.all(Array.from({ length: Math.min(parallel, nodes.length) }, worker));
  return answers;
}

/**
 * What `gnt-cluster verify` should hear, one line per problem and node. Every node reports its
 * own problems; the master also compares every other node's answer (`askNodes`) with itself: a node
 * without the plugin, with another version or build, or whose launcher stands in front of other
 * QEMU paths. Lines come in the order of Ganeti's node list.
 */
export function clusterProblems(self: NodeStatus, cluster: Cluster, answers: ReadonlyMap<string, NodeStatus | string>): string[] {
  const me = cluster.me ?? cluster.hostname;
  const lines = self.problems.map((p) => `${me}: ${p}`);
  if (cluster.me === undefined) {
    lines.push(
      `${me}: this host's name is none of the cluster's nodes (${cluster.nodes.join(", ")}): no node was compared with it`,
    );
  }
  for (const node of nodesToAsk(cluster)) {
    const other = answers.get(node) ?? "not asked";
    if (typeof other === "string") {
      lines.push(`${node}: the plugin does not answer (${other}); is it installed there?`);
      continue;
    }
    if (other.version !== self.version || other.build !== self.build) {
      lines.push(`${node}: plugin ${other.version} (build ${other.build}), the master has ${self.version} (build ${self.build})`);
    }
    const where = (l: string[]) => (l.length ? l.join(", ") : "nothing (kvm_path, or disabled)");
    if (other.launcher.join() !== self.launcher.join()) {
      lines.push(
        `${node}: the launcher stands in front of ${where(other.launcher)}, on the master in front of ${where(self.launcher)}`,
      );
    }
  }
  return lines;
}

/** Where an instance runs, the nodes that could receive it by migration or failover, its tags and disks. */
export interface Placement {
  primary: string;
  receivers: string[];
  tags: string[];
  /** Its disks' uuids, by index. */
  disks: string[];
}

/** Disk templates every node reaches: such an instance can move to any node Ganeti verifies. */
const SHARED_TEMPLATES: ReadonlySet<string> = new Set(["sharedfile", "blockdev", "rbd", "ext", "gluster", "diskless"]);

/**
 * Ganeti's instances, from `gnt-instance list -o name,pnode,snodes,disk_template,tags,disk.uuids`
 * (one per line, `|` between fields; lists read by listField): a DRBD instance can go to its secondary, one on
 * shared storage to any other node Ganeti verifies, one on local disks nowhere.
 */
export function placements(listing: string, cluster: Pick<Cluster, "nodes" | "skipped">): Map<string, Placement> {
  const candidates = cluster.nodes.filter((n) => !cluster.skipped.includes(n));
  const out = new Map<string, Placement>();
  for (const line of listing.split("\n").filter(Boolean)) {
    const [name = "", primary = "", secondaries = "", template = "", tags = "", disks = ""] = line.split("|");
    const receivers =
      template === "drbd"
        ? listField(secondaries)
        : SHARED_TEMPLATES.has(template)
          ? candidates.filter((n) => n !== primary)
          : [];
    out.set(name, { primary, receivers, tags: listField(tags), disks: listField(disks) });
  }
  return out;
}

/** The master's view of the instances (empty where Ganeti's CLI does not answer: the check is then skipped). */
export function listPlacements(cluster: Cluster): Promise<Map<string, Placement>> {
  const { execFile } = builtin<typeof import("node:child_process")>("node:child_process");
  const args = ["list", "--no-headers", "--separator=|", "-o", "name,pnode,snodes,disk_template,tags,disk.uuids"];
  return new Promise((resolve) => {
    execFile("gnt-instance", args, { encoding: "utf8", timeout: 60_000 }, (err, stdout) =>
      resolve(err ? new Map() : placements(stdout, cluster)),
    );
  });
}

/**
 * Each running instance whose machine type a node that could receive it lacks: one line per
 * instance and node. Ganeti keeps the type across migrations, and QEMU drops old types: such a
 * migration or failover would fail in QEMU's words, mid-maintenance. Nodes whose plugin does not
 * say (another version, no QEMU) are left out.
 */
export function machineGaps(statuses: ReadonlyMap<string, NodeStatus>, places: ReadonlyMap<string, Placement>): string[] {
  const lines: string[] = [];
  for (const [node, status] of statuses) {
    for (const { instance, machine } of status.running ?? []) {
      for (const to of places.get(instance)?.receivers ?? []) {
        const there = statuses.get(to);
        if (to === node || !isVersioned(machine) || !there?.machineTypes || there.machineTypes.includes(machine)) continue;
        const qemu = there.qemu ? `QEMU ${there.qemu}` : "QEMU";
        lines.push(
          `instance ${instance} runs machine type ${machine} on ${node}, which ${to}'s ${qemu} lacks: it can neither migrate nor fail over there; set its machine_version to a type both have`,
        );
      }
    }
  }
  return lines;
}

/**
 * Each running instance whose I/O limits differ from what its disk-qos: tags ask: one line per
 * instance and node (a tag change runs no hook, so this is where a forgotten `qos` shows), or a
 * tag that is malformed. Nodes that did not say (another version, a QEMU busy with a hook) are
 * left out.
 */
export function qosGaps(statuses: ReadonlyMap<string, NodeStatus>, places: ReadonlyMap<string, Placement>): string[] {
  const lines: string[] = [];
  for (const [node, status] of statuses) {
    for (const { instance, disks } of status.limits ?? []) {
      const place = places.get(instance);
      if (!place) continue;
      let targets: ThrottleTarget[];
      try {
        targets = throttleTargets(
          qosPolicy(place.tags),
          place.disks.map((uuid, index) => ({ index, id: diskDeviceId(uuid) })),
        );
      } catch (e) {
        lines.push(`instance ${instance}: ${(e as Error).message}; no limit of its tags is set`);
        continue;
      }
      const wrong = targets.flatMap((t) => {
        const now = disks.find((d) => d.id === t.id);
        if (!now) return []; // not attached: nothing enforces anything on it
        const same = sameLimits(now.limits, t.limits) && (!hasLimits(t.limits) || now.group === t.group);
        const inGroup = (l: Limits, g: string | undefined) =>
          hasLimits(l) && g ? `${describeLimits(l)} (group ${g})` : describeLimits(l);
        return same
          ? []
          : [`disk${t.index} runs with ${inGroup(now.limits, now.group)}, its tags ask ${inGroup(t.limits, t.group)}`];
      });
      if (wrong.length) {
        lines.push(
          `instance ${instance} on ${node}: ${wrong.join("; ")}; run \`ganeti-qemu-blockdev qos ${instance}\` on the master`,
        );
      }
    }
  }
  return lines;
}
