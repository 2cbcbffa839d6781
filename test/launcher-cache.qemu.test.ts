// The launcher's cache (its record of the real QEMU, the links named for it, QEMU's version) is
// trusted only where root alone could have written it. Under a umask of 000 the cache directory
// would be world-writable; a local user who plants a record there must not get root's launcher to
// run their binary.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { LAUNCHER, launcherEnv, REAL_QEMU, run } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

t.test("a record planted by another user in a world-writable cache is not followed", async (t) => {
  const base = tempDir(t);
  chmodSync(base, 0o755);
  const cache = join(base, "cache");
  mkdirSync(cache);
  chmodSync(cache, 0o777); // what a umask of 000 would have made
  const env = { ...launcherEnv(base, { qemu: REAL_QEMU }), GANETI_QEMU_BLOCKDEV_CACHE_DIR: cache };
  const marker = join(cache, "nobody-ran");
  const evil = join(cache, "evil");
  const plant = spawnSync(
    "runuser",
    [
      "-u",
      "nobody",
      "--",
      "sh",
      "-c",
      `printf '#!/bin/sh\\ntouch ${marker}\\necho "QEMU emulator version 99"\\n' >${evil} && chmod 755 ${evil} &&
       printf '%s\\n%s\\npresent %s\\n' ${LAUNCHER} ${evil} ${join(base, "config.json")} >${cache}/launcher-qemu &&
       cat ${join(base, "config.json")} >>${cache}/launcher-qemu 2>/dev/null; ls -l ${cache}/launcher-qemu`,
    ],
    { encoding: "utf8" },
  );
  t.equal(plant.status, 0, `nobody planted a record: ${plant.stdout}${plant.stderr}`);
  const r = await run(LAUNCHER, ["--version"], env);
  t.match(r.stdout.toString(), /^QEMU emulator version [0-8]/, "the real QEMU answered");
  t.notOk(existsSync(marker), "nobody's binary never ran");
  t.notOk(readdirSync(cache).includes("qemu"), "no link for QEMU made in a directory others can write");
});

t.test("the cache directory the launcher makes is 0755 whatever the umask", async (t) => {
  const base = tempDir(t);
  const cache = join(base, "new-cache");
  const env = { ...launcherEnv(base, { qemu: REAL_QEMU }), GANETI_QEMU_BLOCKDEV_CACHE_DIR: cache };
  const r = spawnSync("sh", ["-c", `umask 000; exec ${LAUNCHER} --version`], {
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  t.equal(r.status, 0, r.stderr);
  t.equal(lstatSync(cache).mode & 0o777, 0o755);
});
