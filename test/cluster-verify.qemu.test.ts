// The cluster-verify hook and `ganeti-qemu-blockdev status`: what `gnt-cluster verify` hears from
// each node, one line per problem. Run as Ganeti runs the hook, on a cluster described by ssconf
// files of the test's own (the real-Ganeti suites run it under `gnt-cluster verify`).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import {
  askNodes,
  type Cluster,
  clusterProblems,
  nodesToAsk,
  readCluster,
  remoteStatus,
  statusIn,
} from "../src/node/cluster-verify.js";
import type { NodeStatus } from "../src/node/node-status.js";
import { ROOT, runHook } from "./helpers/hook.js";
import { REAL_QEMU, run } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const COMMAND = join(ROOT, "bin/ganeti-qemu-blockdev");

/** A one-node cluster whose master is this host, a hooks directory and a config of the test's own. */
function oneNode(t: Test, config: object) {
  const dir = tempDir(t);
  const ssconf = join(dir, "ssconf");
  mkdirSync(ssconf);
  writeFileSync(join(ssconf, "ssconf_cluster_name"), "cluster.test\n");
  writeFileSync(join(ssconf, "ssconf_master_node"), `${hostname()}\n`);
  writeFileSync(join(ssconf, "ssconf_node_list"), `${hostname()}\n`);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const hooks = join(dir, "hooks");
  const env = {
    GANETI_HOOKS_PHASE: "post",
    GANETI_HOOKS_PATH: "cluster-verify",
    GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json"),
    GANETI_QEMU_BLOCKDEV_KVM_DEVICE: join(dir, "no-kvm"),
  };
  const verify = () => runHook("cluster-verify", env, { args: ["--hooks-dir", hooks, "--ssconf-dir", ssconf] });
  const command = (...args: string[]) => run(COMMAND, [...args, "--hooks-dir", hooks], env);
  return { dir, env, verify, command };
}

t.test("a node with the plugin disabled fails verify, one line naming it; enabled, it passes", async (t) => {
  const node = oneNode(t, { qemu: REAL_QEMU });
  const disabled = await node.verify();
  t.equal(disabled.code, 1, "verify fails");
  t.match(
    disabled.stdout,
    new RegExp(
      `^ganeti-qemu-blockdev: ${hostname()}: the plugin is disabled: hooks not linked in .*: instance-start, disk-add`,
      "m",
    ),
  );
  t.equal(disabled.stdout.trim().split("\n").length, 1, "one line");

  t.equal((await node.command("enable", "--hooks-only")).code, 0);
  const enabled = await node.verify();
  t.equal(enabled.code, 0, `enabled: verify passes: ${enabled.stdout}${enabled.stderr}`);
  t.equal(enabled.stdout, "", "and says nothing");

  const off = await node.command("disable");
  t.equal(off.code, 0);
  t.notMatch(off.stdout.toString(), /cluster-verify/, "disable leaves the cluster-verify hook linked");
  t.equal((await node.verify()).code, 1, "which reports the node disabled again");
  const status = JSON.parse((await node.command("status", "--json")).stdout.toString()) as NodeStatus;
  t.same(status.hooks, [], "status: no operation hook linked");
  t.match(status.version, /^\d+\.\d+\.\d+$/, "status: the plugin's version");
  t.match(status.build, /^[0-9a-f]{16}$/, "status: its build");
});

t.test("an invalid config, a missing QEMU, a name that will not try KVM on a KVM host: a line each", async (t) => {
  const bad = oneNode(t, { qemu: 7 });
  await bad.command("enable", "--hooks-only");
  const r = await bad.verify();
  t.equal(r.code, 1);
  t.match(r.stdout, /: the config is invalid: .*\$\.qemu/);

  const missing = oneNode(t, { qemu: "/usr/local/bin/gqb-no-such-qemu" });
  await missing.command("enable", "--hooks-only");
  t.match((await missing.verify()).stdout, /the QEMU behind the launcher, \/usr\/local\/bin\/gqb-no-such-qemu, is missing/);

  const tcg = oneNode(t, { qemu: REAL_QEMU });
  await tcg.command("enable", "--hooks-only");
  writeFileSync(join(tcg.dir, "no-kvm"), ""); // the host now has "/dev/kvm"
  t.match(
    (await tcg.verify()).stdout,
    /QEMU runs as .*qemu-system-x86_64, a name that does not try KVM, on a host with \/dev\/kvm/,
  );
});

t.test(
  "a /dev/kvm that QEMU cannot use is the operator's concern: verify and status report no problem of the plugin's",
  async (t) => {
    // A node that is itself a VM may have a /dev/kvm that opens but whose guests die; stock Ganeti's
    // VMs die there the same way. The plugin's checks never open it: a file at that path stands in.
    const node = oneNode(t, { qemu: "/usr/bin/kvm" });
    writeFileSync(join(node.dir, "no-kvm"), "not a KVM device");
    t.equal((await node.command("enable", "--hooks-only")).code, 0);
    const r = await node.verify();
    t.equal(r.code, 0, `verify passes: ${r.stdout}${r.stderr}`);
    const status = JSON.parse((await node.command("status", "--json")).stdout.toString()) as NodeStatus;
    t.same(status.problems, [], "status: no problem");
  },
);

t.test("a node's answer is checked against its schema: one line for an answer of another shape, not a crash", async (t) => {
  const good = { version: "1.0.0", build: "aaaa", hooks: [], launcher: ["/usr/bin/kvm"], problems: [], later: "a newer field" };
  t.same(statusIn(JSON.stringify(good)), good, "a status, with a field of a newer version");
  const { launcher: _, ...older } = good;
  t.match(statusIn(JSON.stringify(older)), /^not a status it answered: .*launcher/, "no launcher: named");
  t.match(
    statusIn(JSON.stringify({ ...good, hooks: "all" })),
    /^not a status it answered: its answer at \$\.hooks/,
    "a field of another type",
  );
  t.match(statusIn("bash: ganeti-qemu-blockdev: command not found"), /^not a status it answered: /, "not JSON");
  const self = { ...good, launcher: [] };
  const cluster = { name: "c", me: "n1", hostname: "n1", master: "n1", nodes: ["n1", "n2"], skipped: [], sshPorts: {} };
  t.same(clusterProblems(self, cluster, new Map([["n2", statusIn(JSON.stringify(older))]])), [
    `n2: the plugin does not answer (${statusIn(JSON.stringify(older))}); is it installed there?`,
  ]);
});

t.test("the master compares every node with itself", async (t) => {
  const status = (over: Partial<NodeStatus> = {}): NodeStatus => ({
    version: "1.0.0",
    build: "aaaa",
    hooks: ["instance-start"],
    launcher: ["/usr/bin/kvm"],
    problems: [],
    ...over,
  });
  const cluster: Cluster = {
    name: "c",
    me: "n1",
    hostname: "n1",
    master: "n1",
    nodes: ["n1", "n2", "n3", "n4"],
    skipped: [],
    sshPorts: {},
  };
  const others: Record<string, NodeStatus | string> = {
    n2: status(),
    n3: "bash: /usr/lib/ganeti-qemu-blockdev/bin/ganeti-qemu-blockdev: No such file or directory",
    n4: status({ version: "0.9.0", launcher: [] }),
  };
  t.same(clusterProblems(status({ problems: ["x"] }), cluster, new Map(Object.entries(others))), [
    "n1: x",
    "n3: the plugin does not answer (bash: /usr/lib/ganeti-qemu-blockdev/bin/ganeti-qemu-blockdev: No such file or directory); is it installed there?",
    "n4: plugin 0.9.0 (build aaaa), the master has 1.0.0 (build aaaa)",
    "n4: the launcher stands in front of nothing (kvm_path, or disabled), on the master in front of /usr/bin/kvm",
  ]);
  t.same(
    clusterProblems(status(), { ...cluster, me: "n2" }, new Map(Object.entries(others))),
    [],
    "another node reports only itself",
  );
  t.same(nodesToAsk({ ...cluster, me: "n2" }), [], "and asks no node");
  t.same(nodesToAsk(cluster), ["n2", "n3", "n4"], "the master asks every other node");
  t.same(nodesToAsk({ ...cluster, skipped: ["n3"] }), ["n2", "n4"], "but one offline or not vm_capable");
  const stranger = { ...cluster, me: undefined, hostname: "gateway" };
  t.same(nodesToAsk(stranger), [], "a host none of the nodes: asks no one");
  t.match(
    clusterProblems(status(), stranger, new Map()),
    [/^gateway: this host's name is none of the cluster's nodes \(n1, n2, n3, n4\)/],
    "and says so",
  );
});

t.test("the master asks its nodes at the same time, at most 16 at once, and hears every answer", async (t) => {
  for (const count of [3, 40]) {
    const nodes = Array.from({ length: count }, (_, i) => `n${i + 2}`);
    let inFlight = 0;
    let most = 0;
    const answers = await askNodes(nodes, async (node) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return `answer of ${node}`;
    });
    t.equal(most, Math.min(count, 16), `${count} nodes: ${Math.min(count, 16)} asked at once`);
    t.same([...answers.keys()].sort(), [...nodes].sort(), `${count} nodes: every node answered`);
    t.ok(
      nodes.every((n) => answers.get(n) === `answer of ${n}`),
      "each answer is its own node's",
    );
  }
});

t.test("the cluster from Ganeti's ssconf files, and a node's status over SSH", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "ssconf_cluster_name"), "cluster.test\n");
  writeFileSync(join(dir, "ssconf_master_node"), "n1.example.org\n");
  writeFileSync(join(dir, "ssconf_node_list"), "n1.example.org\nn2.example.org\n");
  t.same(
    readCluster(dir, "n2"),
    {
      name: "cluster.test",
      me: "n2.example.org",
      hostname: "n2",
      master: "n1.example.org",
      nodes: ["n1.example.org", "n2.example.org"],
      skipped: [],
      sshPorts: {},
    },
    "a host that calls itself by its short name (Ganeti 2.x's files only: nothing skipped)",
  );
  t.equal(readCluster(dir, "n1.example.org").me, "n1.example.org");
  t.equal(readCluster(dir, "n9").me, undefined, "a host none of the nodes");
  writeFileSync(join(dir, "ssconf_node_list"), "n1.example.org\nn2.example.org\nn3.example.org\nn4.example.org\n");
  writeFileSync(join(dir, "ssconf_offline_nodes"), "n3.example.org\n");
  writeFileSync(
    join(dir, "ssconf_node_vm_capable"),
    "n1.example.org=True\nn2.example.org=True\nn3.example.org=True\nn4.example.org=False\n",
  );
  writeFileSync(join(dir, "ssconf_ssh_ports"), "n1.example.org=22\nn2.example.org=2222\n");
  const full = readCluster(dir, "n1.example.org");
  t.same(nodesToAsk(full), ["n2.example.org"], "the master skips the offline node and the one not vm_capable");
  t.same(full.sshPorts["n2.example.org"], "2222");

  // An ssh of the test's own, first on PATH: it answers for n2 and fails for n3, as a node without the plugin would.
  const bin = join(dir, "bin");
  mkdirSync(bin);
  const status: NodeStatus = { version: "1.0.0", build: "b", hooks: [], launcher: [], problems: [] };
  writeFileSync(
    join(bin, "ssh"),
    `#!/bin/sh\necho "$@" >"${dir}/ssh-args"\ncase "$*" in *n2.example.org*) echo '${JSON.stringify(status)}';; *) echo "sh: 1: /x/bin/ganeti-qemu-blockdev: not found" >&2; exit 127;; esac\n`,
    { mode: 0o755 },
  );
  const path = process.env["PATH"];
  process.env["PATH"] = `${bin}:${path}`;
  t.teardown(() => {
    process.env["PATH"] = path;
  });
  t.same(await remoteStatus("n2.example.org", "/x/bin/ganeti-qemu-blockdev", dir, full), status, "n2's status, parsed");
  t.match(
    readFileSync(join(dir, "ssh-args"), "utf8"),
    `-oBatchMode=yes -oConnectTimeout=10 -oGlobalKnownHostsFile=${dir}/known_hosts -oUserKnownHostsFile=/dev/null -oStrictHostKeyChecking=yes -oHostKeyAlias=cluster.test -lroot -p 2222 n2.example.org '/x/bin/ganeti-qemu-blockdev' 'status' '--json'`,
    "asked as Ganeti's master asks: root, no prompt, Ganeti's known_hosts under the cluster's name, the node's SSH port, the command quoted for the remote shell",
  );
  t.equal(
    await remoteStatus("n3.example.org", "/x/bin/ganeti-qemu-blockdev", dir, full),
    "sh: 1: /x/bin/ganeti-qemu-blockdev: not found",
    "a node without the plugin: what it said",
  );
});

t.test("a running instance whose machine type this node's QEMU deprecates: one line, with the QEMU's version", async (t) => {
  const help = execFileSync(REAL_QEMU, ["-machine", "help"], { encoding: "utf8" });
  const old = /^(pc-i440fx-\S+)\s.*\(deprecated\)\s*$/m.exec(help)?.[1];
  const version = /version (\d+\.\d+\.\d+)/.exec(execFileSync(REAL_QEMU, ["--version"], { encoding: "utf8" }))?.[1];
  const node = oneNode(t, { qemu: REAL_QEMU });
  const dirs = ["qmp", "runtime", "cache"].map((d) => join(node.dir, d));
  for (const d of dirs) mkdirSync(d);
  const [qmp, runtime, cache] = dirs as [string, string, string];
  const doc = JSON.parse(readFileSync(join(ROOT, "test/fixtures/ganeti-3.0.2/extra/kvm-runtime.instance-start.json"), "utf8"));
  const at = doc[0].indexOf("-machine");
  const place = (name: string, type: string) => {
    doc[0][at + 1] = type;
    writeFileSync(join(runtime, `${name}.runtime`), JSON.stringify(doc));
    writeFileSync(join(qmp, `${name}.qmp`), ""); // it runs here: its QMP socket is here
  };
  const newest = /^(pc-i440fx-\S+)\s.*\(default\)/m.exec(help)?.[1] ?? "pc";
  place("current.example", newest);
  place("stopped.example", old ?? newest);
  rmSync(join(qmp, "stopped.example.qmp"));
  if (old) place("old.example", old);
  const status = JSON.parse(
    (await node.command("status", "--json", "--qmp-dir", qmp, "--runtime-dir", runtime, "--cache-dir", cache)).stdout.toString(),
  ) as NodeStatus;
  t.equal(status["qemu"], version, "the node's QEMU version");
  if (!old) {
    t.same(
      status.problems.filter((p) => p.includes("deprecates")),
      [],
      "this QEMU deprecates no pc-i440fx type: no line",
    );
    return;
  }
  t.same(
    status.problems.filter((p) => p.includes("deprecates")),
    [
      `instance old.example runs machine type ${old}, which this node's QEMU ${version} deprecates: set its machine_version to a current type before a QEMU upgrade drops it`,
    ],
    "one line, for the running instance only",
  );
});
