// npm run bench: the hooks' latency and memory against baselines and floors measured in the same
// run. Absolute times drift on a shared 2-core machine; ratios and deltas to an interleaved
// baseline do not, so every figure is reported next to its baseline and checked against its
// budget. One file per figure (bench/figures/), what they share in bench/workbench.ts; this file
// runs them and writes the table (bench/results/<name>.md and .json). How figures are judged:
// docs/benchmarks.md.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { coreCost } from "./figures/core.js";
import { guestRemove } from "./figures/guest.js";
import { scsiHotplug } from "./figures/hotplug.js";
import { launcher } from "./figures/launcher.js";
import { actionLog, logFirstUse } from "./figures/log.js";
import { mediumChange } from "./figures/medium.js";
import { memory } from "./figures/memory.js";
import { qosStart } from "./figures/qos.js";
import { startup } from "./figures/startup.js";
import { migrationUnderGaneti } from "./migration.js";
import { workbench } from "./workbench.js";

const root = resolve(__dirname, "..");

/**
 * BENCH_WITHOUT=guest,ganeti leaves out figure 4 (it boots the test guest) and figure 11 (a real
 * two-node Ganeti): what bench-node18.sh does in the bookworm chroot, which has Debian's Node 18 and
 * QEMU but neither. BENCH_RESULTS names the table (bench/results/<name>.md; default latest).
 */
const without = new Set((process.env["BENCH_WITHOUT"] ?? "").split(",").filter(Boolean));
const RESULTS = process.env["BENCH_RESULTS"] || "latest";

async function main() {
  const wb = workbench(root);
  const { rows, N, STARTUP_N, GUEST_N, qemuPath } = wb;
  const startupMs = await startup(wb);
  await scsiHotplug(wb);
  await mediumChange(wb);
  if (!without.has("guest")) await guestRemove(wb);
  coreCost(wb);
  await actionLog(wb);
  memory(wb);
  await launcher(wb, startupMs);
  await qosStart(wb);
  if (!without.has("ganeti")) rows.push(...(await migrationUnderGaneti()));
  const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const machine = `${cpu}, ${(await import("node:os")).cpus().length} cores, Node ${process.version}, ${execFileSync(qemuPath, ["--version"], { encoding: "utf8" }).split("\n")[0]}`;
  const fmt = (n: number) => (n < 1 ? n.toFixed(3) : n.toFixed(1));
  const lines = [
    `machine: ${machine}; ${N} runs per figure (figure 1: ${STARTUP_N} each, interleaved; figure 4: ${GUEST_N} of the hook and ${GUEST_N} of its floor), medians${without.size ? `; without ${[...without].join(", ")}` : ""}`,
    "",
    `The day's speed: bare \`node -e ''\` took ${wb.bareNodeMs.toFixed(1)} ms (about 25 ms on a fast day here, 60–65 ms on a slow one). Hot-plug figures are judged against floors from the same loop: see docs/benchmarks.md.`,
    "",
    "| figure | median | p10–p90 | baseline (same run) | budget | verdict |",
    "|---|---:|---:|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.figure} | ${fmt(r.median)}${r.figure.includes("MiB") ? "" : " ms"} | ${fmt(r.p10)}–${fmt(r.p90)} | ${r.baseline} | ${r.budget} | ${r.budget.startsWith("report") ? "-" : r.pass ? "pass" : "FAIL"} |`,
    ),
  ];
  console.log(lines.join("\n"));
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(
    join(root, `bench/results/${RESULTS}.json`),
    JSON.stringify({ machine, runs: N, startupRuns: STARTUP_N, guestRuns: GUEST_N, bareNodeMs: wb.bareNodeMs, rows }, null, 2),
  );
  writeFileSync(join(root, `bench/results/${RESULTS}.md`), `${lines.join("\n")}\n`);
  process.exitCode = rows.every((r) => r.pass) ? 0 : 1;
}

// Figure 12b's child (bench/figures/log.ts) runs this same bundle, before any set-up.
if (process.argv[2] === "log-first-use") logFirstUse(process.argv[3] ?? "", process.argv[4] ?? "");
else void main();
