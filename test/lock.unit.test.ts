// The hooks' per-instance lock: one holder at a time, taken over from a holder killed by SIGKILL,
// and out of reach of local users (the abstract socket it replaces could be bound by anyone).
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { lockInstance } from "../src/hotplug/lock.js";
import { shortHash } from "../src/util/hash.js";
import { tempDir } from "./helpers/tmp.js";

const INSTANCE = "inst1.ganeti.test";

t.test("one holder at a time; released, the next one takes it", async (t) => {
  const dir = join(tempDir(t), "locks");
  const release = await lockInstance(INSTANCE, 1000, dir);
  await t.rejects(lockInstance(INSTANCE, 200, dir), { code: "LOCK_TIMEOUT" }, "a second taker waits, then gives up");
  const other = await lockInstance("inst2.ganeti.test", 200, dir);
  other();
  setTimeout(release, 100);
  const again = await lockInstance(INSTANCE, 2000, dir);
  t.pass("taken once the first holder released it");
  again();
});

t.test("a holder killed by SIGKILL: the next taker finds the socket dead and takes the lock", async (t) => {
  const dir = join(tempDir(t), "locks");
  mkdirSync(dir, { mode: 0o700 });
  const path = join(dir, `${shortHash(INSTANCE)}.lock`);
  const holder = spawn(
    process.execPath,
    ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("held"))`],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise((r) => holder.stdout.once("data", r));
  holder.kill("SIGKILL");
  await new Promise((r) => holder.once("exit", r));
  t.ok(existsSync(path), "the dead holder's socket is still there");
  const started = Date.now();
  const release = await lockInstance(INSTANCE, 5000, dir);
  t.ok(Date.now() - started < 1000, "taken at once, not after the timeout");
  release();
});

t.test("a local user cannot take or block it", async (t) => {
  const base = tempDir(t);
  chmodSync(base, 0o755);
  const dir = join(base, "locks");
  const release = await lockInstance(INSTANCE, 1000, dir);
  release();
  const abstract = `\u0000ganeti-qemu-blockdev/${shortHash(INSTANCE)}`;
  const squat = spawnSync(
    "runuser",
    [
      "-u",
      "nobody",
      "--",
      process.execPath,
      "-e",
      `
      const net = require("net");
      net.createServer().listen(${JSON.stringify(abstract)}, () => {
        net.createServer().on("error", (e) => { console.log(e.code); process.exit(0); })
          .listen(${JSON.stringify(join(dir, `${shortHash(INSTANCE)}.lock`))}, () => { console.log("bound"); process.exit(0); });
      });`,
    ],
    { encoding: "utf8" },
  );
  t.equal(squat.stdout.trim(), "EACCES", `nobody cannot make the lock's socket: ${squat.stderr}`);
  const again = await lockInstance(INSTANCE, 500, dir);
  t.pass("root takes it at once, whatever nobody bound");
  again();

  chmodSync(dir, 0o777);
  await t.rejects(
    lockInstance(INSTANCE, 500, dir),
    { code: "LOCK_FAILED", message: /only root can write/ },
    "a directory others can write: refused",
  );
  chmodSync(dir, 0o700);
  chownSync(dir, 65534, 65534);
  await t.rejects(lockInstance(INSTANCE, 500, dir), { code: "LOCK_FAILED" }, "a directory of nobody's: refused");
});

t.test("eight takers at once, each holding it across awaits: never two holders", async (t) => {
  const dir = join(tempDir(t), "locks");
  let holders = 0;
  let most = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 25; i++) {
        const release = await lockInstance("busy.example", 30_000, dir);
        holders++;
        most = Math.max(most, holders);
        await new Promise((r) => setTimeout(r, Math.random() * 2));
        holders--;
        done++;
        release();
      }
    }),
  );
  t.equal(done, 200);
  t.equal(most, 1, "at most one holder at any time");
});

t.test("sixteen processes at once, many times: never two holders (a socket just bound is not taken for dead)", async (t) => {
  const dir = join(tempDir(t), "locks");
  const marker = join(tempDir(t), "holder");
  const child = join(import.meta.dirname, "helpers/lock-child.ts");
  const codes = await Promise.all(
    Array.from(
      { length: 16 },
      () =>
        new Promise<number | null>((resolve) => {
          const p = spawn(process.execPath, [...process.execArgv, child, dir, marker, "40"], { stdio: "inherit" });
          p.on("close", resolve);
        }),
    ),
  );
  t.same(codes, Array(16).fill(0), "every taker held it alone, every time (exit 3: it found another holder)");
});
