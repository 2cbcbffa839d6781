import { readFileSync } from "node:fs";
import { builtin } from "../host/builtin.js";
import type { NodeStatus } from "./node-status.js";

/** Ganeti's simple-store files, on every node: the master's name and the node list. */
export const DEFAULT_SSCONF_DIR = "/var/lib/ganeti";

export interface Cluster {
  name: string;
  /** This node's name, as Ganeti lists it. */
  me: string;
  master: string;
  nodes: string[];
}

/** Which node this is, and the cluster's master and nodes, from Ganeti's ssconf files. */
export function readCluster(ssconfDir: string, hostname: string): Cluster {
  const read = (key: string) => readFileSync(`${ssconfDir}/ssconf_${key}`, "utf8").trim();
  const master = read("master_node");
  const nodes = read("node_list").split("\n").filter(Boolean);
  // Ganeti names nodes by their FQDN; the host may call itself by the short name.
  const short = (n: string) => n.split(".")[0];
  const me = nodes.find((n) => n === hostname) ?? nodes.find((n) => short(n) === short(hostname)) ?? hostname;
  return { name: read("cluster_name"), me, master, nodes };
}

/**
 * A node's status as its own plugin reports it, asked over SSH as Ganeti's master asks its nodes:
 * root, no prompt, Ganeti's known_hosts under the cluster's name (every node has the cluster's host
 * key); the plugin's command at the same path as here.
 */
export function remoteStatus(node: string, command: string, ssconfDir: string, clusterName: string): NodeStatus | string {
  const { execFileSync } = builtin<typeof import("node:child_process")>("node:child_process");
  try {
    const out = execFileSync(
      "ssh",
      [
        "-oBatchMode=yes",
        "-oConnectTimeout=10",
        `-oGlobalKnownHostsFile=${ssconfDir}/known_hosts`,
        "-oUserKnownHostsFile=/dev/null",
        "-oStrictHostKeyChecking=yes",
        `-oHostKeyAlias=${clusterName}`,
        "-lroot",
        node,
        command,
        "status",
        "--json",
      ],
      { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe"] },
    );
    return JSON.parse(out) as NodeStatus;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return (err.stderr || err.message).trim().split("\n").at(-1) ?? "no answer";
  }
}

/**
 * What `gnt-cluster verify` should hear, one line per problem and node. Every node reports its
 * own problems; the master also asks every other node for its plugin and compares: a node without
 * it, with another version or build, or whose launcher stands in front of other QEMU paths.
 */
export function clusterProblems(self: NodeStatus, cluster: Cluster, ask: (node: string) => NodeStatus | string): string[] {
  const lines = self.problems.map((p) => `${cluster.me}: ${p}`);
  if (cluster.me !== cluster.master) return lines;
  for (const node of cluster.nodes.filter((n) => n !== cluster.me)) {
    const other = ask(node);
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
