// Figure 11: `gnt-instance migrate` under a real two-node Ganeti 3.0.2 (test/ganeti/two-nodes.sh),
// one instance started through the launcher (so the launcher runs on both sides: the target runs
// the source's kvm_path) and one started by stock QEMU, both booted, migrated back and forth in
// turns, in the same run. As root; the cluster takes ~10 s to come up and each migration ~5 s.
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import {
  addTestInstance,
  Console,
  gnt,
  keepPluginFiles,
  type NamedNode,
  TWO_NODES,
  twoNodesNode,
  writePluginConfig,
} from "../lab/ganeti.js";
import { REAL_QEMU } from "../scripts/lib/qemu-args.mjs";
import { LAUNCHER as LAUNCHER_NAME, LAYOUT } from "../src/host/plugin-files.js";
import { type Row, type Stats, stats } from "./report.js";

const RUNS = Number(process.env["BENCH_MIGRATIONS"] ?? 5);
/** The launcher of this checkout, as an instance's kvm_path. */
const LAUNCHER = join(resolve(__dirname, ".."), LAYOUT.launcher, LAUNCHER_NAME);

export async function migrationUnderGaneti(): Promise<Row[]> {
  const nodes = [twoNodesNode(1), twoNodesNode(2)] as const;
  const [n1] = nodes;
  const restore = keepPluginFiles();
  const down = () => execFileSync("bash", [TWO_NODES, "down"], { stdio: ["ignore", "ignore", "inherit"] });
  // A bench killed with ^C still takes the nodes down (the exit handlers run synchronously).
  process.once("exit", down);
  try {
    execFileSync("bash", [TWO_NODES, "up"], { stdio: ["ignore", "ignore", "inherit"] });
    writePluginConfig({ qemu: REAL_QEMU });
    const arms = [
      { inst: "bench-stock.ganeti.test", kvm: REAL_QEMU, times: [] as number[], at: 0 },
      { inst: "bench-launcher.ganeti.test", kvm: LAUNCHER, times: [] as number[], at: 0 },
    ];
    for (const a of arms) {
      addTestInstance(n1, a.inst, { template: "sharedfile", pnode: n1.name, memory: "128M", hv: `kvm_path=${a.kvm}` });
      const start = gnt(n1, "gnt-instance", "start", a.inst);
      if (start.code !== 0) throw new Error(`gnt-instance start ${a.inst}: ${start.out}`);
      const cons = new Console(a.inst);
      try {
        await cons.boot(n1);
      } finally {
        cons.close();
      }
    }
    for (let i = 0; i < RUNS; i++) {
      // In turns, the order swapped every round: a slower second migration is nobody's bias.
      for (const a of i % 2 === 0 ? arms : [...arms].reverse()) {
        a.at = 1 - a.at;
        const to = nodes[a.at] as NamedNode;
        const t0 = performance.now();
        const r = gnt(n1, "gnt-instance", "migrate", "-f", "-n", to.name, a.inst);
        a.times.push(performance.now() - t0);
        if (r.code !== 0) throw new Error(`gnt-instance migrate ${a.inst}: ${r.out}`);
      }
    }
    const [stock, launcher] = arms.map((a) => stats(a.times)) as [Stats, Stats];
    const ratio = launcher.median / stock.median;
    return [
      {
        figure: "11. gnt-instance migrate, two-node Ganeti, guest with memory=128M, launcher on both sides",
        ...launcher,
        baseline: `stock QEMU both sides: ${stock.median.toFixed(0)} ms (p10–p90 ${stock.p10.toFixed(0)}–${stock.p90.toFixed(0)})`,
        budget: `≤ 1.10× (${ratio.toFixed(3)}×)`,
        pass: ratio <= 1.1,
      },
    ];
  } finally {
    process.removeListener("exit", down);
    down();
    restore();
  }
}
