// The install by diversion: the launcher in place of the QEMU binary Ganeti calls, and its undo,
// which leaves running VMs alone. A test binary path of its own, never /usr/bin/kvm itself.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ROOT } from "./helpers/hook.js";
import { LAUNCHER, REAL_QEMU, run } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const DIVERT = join(ROOT, "bin/ganeti-qemu-blockdev-divert");
const diverted = (path: string) => execFileSync("dpkg-divert", ["--list", path], { encoding: "utf8" });

t.test("install diverts the binary and puts the launcher there; uninstall undoes it, running VMs untouched", async (t) => {
  const dir = tempDir(t);
  const path = `/usr/local/bin/gqb-divert-test-${process.pid}`;
  const env = { GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json"), GANETI_QEMU_BLOCKDEV_CACHE_DIR: dir };
  symlinkSync(REAL_QEMU, path); // as Debian's /usr/bin/kvm is
  t.teardown(() => {
    rmSync(path, { force: true });
    if (diverted(path).includes(path)) execFileSync("dpkg-divert", ["--local", "--rename", "--remove", path]);
    rmSync(`${path}.distrib`, { force: true });
  });

  const install = await run(DIVERT, ["install", "--path", path], env);
  t.equal(install.code, 0, install.stderr.toString());
  t.equal(readlinkSync(path), LAUNCHER, `${path} is the launcher`);
  t.equal(readlinkSync(`${path}.distrib`), REAL_QEMU, "the real binary, renamed in its own directory");
  t.match(diverted(path), `diversion of ${path} to ${path}.distrib`, "a local dpkg diversion");
  t.equal(JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")).qemu, `${path}.distrib`, "the config names it");
  const direct = await run(REAL_QEMU, ["--version"]);
  const via = await run(path, ["--version"], env);
  t.ok(via.stdout.equals(direct.stdout), "a probe through the diverted path reaches the real QEMU");
  t.equal((await run(DIVERT, ["install", "--path", path], env)).code, 0, "installing again changes nothing");

  // A VM started through the diverted path, as Ganeti would start it.
  const pidfile = join(dir, "vm.pid");
  const start = await run(
    path,
    ["-name", "divert-test", "-accel", "tcg", "-nodefaults", "-display", "none", "-S", "-daemonize", "-pidfile", pidfile],
    env,
  );
  t.equal(start.code, 0, start.stderr.toString());
  const pid = Number(readFileSync(pidfile, "utf8"));
  t.teardown(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  });

  const uninstall = await run(DIVERT, ["uninstall", "--path", path], env);
  t.equal(uninstall.code, 0, uninstall.stderr.toString());
  t.equal(readlinkSync(path), REAL_QEMU, `${path} is the real binary again`);
  t.notOk(existsSync(`${path}.distrib`), "no .distrib left");
  t.notMatch(diverted(path), path, "no diversion left");
  t.notOk("qemu" in JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")), "the config no longer names it");
  t.ok(existsSync(`/proc/${pid}`), "the VM started through the launcher still runs");
  t.equal((await run(DIVERT, ["uninstall", "--path", path], env)).code, 0, "uninstalling again changes nothing");
  t.ok(lstatSync(path).isSymbolicLink());
});

t.test("refusals: no such binary, a relative path, no action", async (t) => {
  const dir = tempDir(t);
  const env = { GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json") };
  const none = await run(DIVERT, ["install", "--path", "/usr/local/bin/gqb-no-such-kvm"], env);
  t.equal(none.code, 1);
  t.match(none.stderr.toString(), /NOTHING_TO_DIVERT/);
  t.equal((await run(DIVERT, ["install", "--path", "bin/kvm"], env)).code, 2);
  t.equal((await run(DIVERT, [], env)).code, 2);
});

t.test("install creates the config file's directory, and a step that fails undoes the ones before it", async (t) => {
  const dir = tempDir(t);
  const path = `/usr/local/bin/gqb-divert-undo-${process.pid}`;
  symlinkSync(REAL_QEMU, path);
  t.teardown(() => {
    rmSync(`${path}.gqb-tmp`, { recursive: true, force: true });
    if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() && readlinkSync(path) === LAUNCHER) rmSync(path);
    if (diverted(path).includes(path)) execFileSync("dpkg-divert", ["--local", "--rename", "--remove", path]);
    rmSync(path, { force: true });
    rmSync(`${path}.distrib`, { force: true });
  });
  const env = { GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "new-dir/config.json") };
  // The launcher link is made under a temporary name first: a directory there makes that step fail,
  // after the diversion was made.
  mkdirSync(join(`${path}.gqb-tmp`, "in-the-way"), { recursive: true });
  const failed = await run(DIVERT, ["install", "--path", path], env);
  t.equal(failed.code, 1, "the install fails");
  t.match(failed.stderr.toString(), `error [INSTALL_FAILED]: `, "a failure of the install");
  t.match(failed.stderr.toString(), `${path}.gqb-tmp`, "naming what was in the way");
  t.equal(readlinkSync(path), REAL_QEMU, `${path} is the real binary again`);
  t.notMatch(diverted(path), path, "the diversion was undone");
  t.notOk(existsSync(`${path}.distrib`), "no .distrib left");
  t.notOk(existsSync(env.GANETI_QEMU_BLOCKDEV_CONFIG), "no config written");

  rmSync(`${path}.gqb-tmp`, { recursive: true });
  const ok = await run(DIVERT, ["install", "--path", path], env);
  t.equal(ok.code, 0, ok.stderr.toString());
  t.equal(
    JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")).qemu,
    `${path}.distrib`,
    "the config, in a new directory",
  );
  t.equal((await run(DIVERT, ["uninstall", "--path", path], env)).code, 0);
});
