// Figures 7, 8 and 8b: the launcher passing a probe through, and rewriting a recorded start.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stats } from "../report.js";
import { type Bench, timed } from "../workbench.js";

/**
 * Figures 7 and 8, hooks/qemu-launcher as Ganeti's kvm_path: a probe passed through against QEMU
 * itself, and an instance start (recorded Ganeti argv) up to the exec of QEMU, with a QEMU that
 * exits at once (/bin/true) so that only the launcher's own time is left.
 */
export async function launcher(wb: Bench, startupMs: number) {
  const { root, dir, N, qemuPath, hook, baseEnv, rows } = wb;
  const launch = hook("qemu-launcher");
  const env = (qemu: string, name: string) => {
    const config = join(dir, `launcher-${name}.json`);
    writeFileSync(config, JSON.stringify({ qemu }));
    return {
      ...baseEnv,
      GANETI_QEMU_BLOCKDEV_CONFIG: config,
      GANETI_QEMU_BLOCKDEV_CACHE_DIR: join(dir, `launcher-${name}-cache`),
    };
  };
  const probeEnv = env(qemuPath, "probe");
  await timed(launch, ["--version"], probeEnv); // the first call records the QEMU for the sh front
  const direct: number[] = [];
  const via: number[] = [];
  for (let i = 0; i < 2 * N + 5; i++) {
    const d = await timed(qemuPath, ["--version"], baseEnv);
    const v = await timed(launch, ["--version"], probeEnv);
    if (i >= 5) {
      direct.push(d);
      via.push(v);
    }
  }
  const d = stats(direct);
  const v = stats(via);
  rows.push({
    figure: "7. qemu-launcher --version (a probe, passed through)",
    ...v,
    baseline: `qemu --version ${d.median.toFixed(1)} ms`,
    budget: `≤ 1.10× (${(v.median / d.median).toFixed(3)}×)`,
    pass: v.median / d.median <= 1.1,
  });
  const argv = readFileSync(join(root, "test/fixtures/ganeti-3.0.2/extra/kvm-cmdline.instance-start.txt"), "utf8")
    .trim()
    .split("\n")
    .slice(1);
  const startEnvL = env("/bin/true", "start");
  const stub: number[] = [];
  const starts: number[] = [];
  for (let i = 0; i < N + 3; i++) {
    const s0 = await timed("/bin/true", argv, baseEnv);
    const s1 = await timed(launch, argv, startEnvL);
    if (i >= 3) {
      stub.push(s0);
      starts.push(s1 - s0);
    }
  }
  const o = stats(starts);
  rows.push({
    figure: "8. qemu-launcher, recorded Ganeti start: own time up to exec of QEMU",
    ...o,
    baseline: `instance-start ${startupMs.toFixed(1)} ms`,
    budget: `≤ +5 ms (${(o.median - startupMs >= 0 ? "+" : "") + (o.median - startupMs).toFixed(1)})`,
    pass: o.median <= startupMs + 5,
    note: `QEMU replaced by /bin/true (${stats(stub).median.toFixed(1)} ms, subtracted)`,
  });
  // The same start through a diverted path: QEMU (here /bin/true) exec'd by Perl, which gives it
  // the stock argv[0], through a link with the stock file name. Reported next to figure 8.
  const diverted = join(dir, "diverted");
  mkdirSync(diverted, { recursive: true });
  symlinkSync(launch, join(diverted, "kvm"));
  symlinkSync("/bin/true", join(diverted, "kvm.distrib"));
  const divertEnv = env(join(diverted, "kvm.distrib"), "diverted");
  const viaDiverted: number[] = [];
  for (let i = 0; i < N + 3; i++) {
    const s0 = await timed("/bin/true", argv, baseEnv);
    const s1 = await timed(join(diverted, "kvm"), argv, divertEnv);
    if (i >= 3) viaDiverted.push(s1 - s0);
  }
  const dv = stats(viaDiverted);
  rows.push({
    figure: "8b. the same start through a diverted QEMU path (argv[0] set by Perl)",
    ...dv,
    baseline: `figure 8 ${o.median.toFixed(1)} ms`,
    budget: `report (+${(dv.median - o.median).toFixed(1)} ms)`,
    pass: true,
  });
}
