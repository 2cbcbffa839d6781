// Figures 12 and 12b: one line of the plugin's log, warm and at its first use in a fresh process.
import { execFileSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { appendLog } from "../../src/host/plugin-log.js";
import { stats } from "../report.js";
import type { Bench } from "../workbench.js";

/**
 * Figure 12: what one line of the plugin's log costs a hook (open, append, close of a file), per
 * action, next to the same line made and not written. A hook writes one per action.
 */
export async function actionLog(wb: Bench) {
  const { dir, N, nodePath, rows } = wb;
  const env = { GANETI_QEMU_BLOCKDEV_LOG: join(dir, "qemu-blockdev.log") };
  const line = (i: number) => `inst1.ganeti.test disk/${i % 16} hotplug:done (${i % 200} ms)`;
  const perCall = (write: (i: number) => void) => {
    const out: number[] = [];
    for (let b = 0; b < 30; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) write(i);
      out.push((performance.now() - t0) / 100);
    }
    return stats(out);
  };
  const made: string[] = [];
  const base = perCall((i) => {
    made[i] = `${new Date().toISOString()} disk-add[${process.pid}]: ${line(i)}\n`;
  });
  const s = perCall((i) => appendLog(env, "disk-add", line(i)));
  const delta = s.median - base.median;
  rows.push({
    figure: "12. the plugin's log: one line appended to a file, per action, in-process",
    ...s,
    baseline: `the line made, not written: ${base.median.toFixed(3)} ms`,
    budget: `≤ +1 ms (+${delta.toFixed(3)})`,
    pass: delta <= 1,
  });
  // 12b: the first line of a fresh process, against the same line's bare open/write/close there.
  const fresh = (mode: string) => {
    const out = execFileSync(nodePath, [process.argv[1] as string, "log-first-use", mode, env.GANETI_QEMU_BLOCKDEV_LOG], {
      encoding: "utf8",
    });
    return Number(out.trim());
  };
  const first: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < N; i++) {
    first.push(fresh("appendLog"));
    bare.push(fresh("floor"));
  }
  const f = stats(first);
  const b = stats(bare);
  rows.push({
    figure: "12b. the plugin's log: the first line of a fresh process",
    ...f,
    baseline: `the same line by a bare open/write/close there: ${b.median.toFixed(3)} ms`,
    budget: `≤ +0.1 ms (+${(f.median - b.median).toFixed(3)})`,
    pass: f.median - b.median <= 0.1,
  });
}

/**
 * Figure 12b's child: one log line's cost at its first use in a fresh process (`appendLog`), or the
 * same line written by a bare open/write/close (`floor`), printed in ms. It runs right after
 * Node's start, before the bench's own set-up, as a hook's last line comes after its own file work.
 */
export function logFirstUse(mode: string, file: string): never {
  const line = `2026-12-07T10:00:00.000Z disk-add[${process.pid}]: inst1.ganeti.test disk/2 hotplug:done (12 ms)\n`;
  const t0 = process.hrtime.bigint();
  if (mode === "appendLog")
    appendLog({ GANETI_QEMU_BLOCKDEV_LOG: file }, "disk-add", "inst1.ganeti.test disk/2 hotplug:done (12 ms)");
  else {
    const fd = openSync(file, "a");
    writeSync(fd, line);
    closeSync(fd);
  }
  process.stdout.write(`${Number(process.hrtime.bigint() - t0) / 1e6}\n`);
  process.exit(0);
}
