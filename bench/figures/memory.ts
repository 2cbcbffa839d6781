// Figure 6: peak RSS of the hooks.
import { type Row, stats } from "../report.js";
import { type Bench, peakRss } from "../workbench.js";

export function memory(wb: Bench) {
  const { nodePath, hook, baseEnv, startEnv, paths, startJson, rows, hotplugRss } = wb;
  const bare = stats(Array.from({ length: 5 }, () => peakRss(nodePath, ["-e", ""], baseEnv)));
  const five = (run: () => number) => Array.from({ length: 5 }, run);
  const runs: [string, number[]][] = [
    ["instance-start, env-only", five(() => peakRss(hook("instance-start"), paths, startEnv))],
    ["instance-start, with JSON", five(() => peakRss(hook("instance-start"), paths, startEnv, startJson))],
    ["disk-add, scsi-hd, real QEMU (figure 2)", hotplugRss.add],
    ["disk-remove, scsi-hd, real QEMU (figure 3)", hotplugRss.remove],
  ];
  for (const [name, kib] of runs) {
    const s = stats(kib);
    rows.push({
      figure: `6. peak RSS, ${name} (MiB)`,
      median: s.median / 1024,
      p10: s.p10 / 1024,
      p90: s.p90 / 1024,
      n: s.n,
      baseline: `node -e '' ${(bare.median / 1024).toFixed(1)} MiB`,
      budget: "report",
      pass: true,
    } as Row);
  }
}
