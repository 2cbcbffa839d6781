// One taker of test/lock.unit.test.ts's contention test, as a process of its own (hooks are
// processes, and only across processes can a taker see another's socket bound but not yet
// listening). While it holds the lock it owns a marker file, created exclusively: a second holder
// finds it there and exits 3.
import { closeSync, openSync, rmSync } from "node:fs";
import { lockInstance } from "../../src/hotplug/lock.js";

const [dir, marker, rounds] = process.argv.slice(2) as [string, string, string];
for (let i = 0; i < Number(rounds); i++) {
  const release = await lockInstance("busy.example", 60_000, dir);
  try {
    closeSync(openSync(marker, "wx"));
  } catch {
    process.exit(3);
  }
  await new Promise((r) => setTimeout(r, Math.random() * 2));
  rmSync(marker);
  release();
}
