// enable and disable: the hooks linked into Ganeti's hooks directory, the launcher in place of the
// QEMU binary Ganeti calls (a diversion), and the undo of both, which leaves running VMs alone. A
// test binary path and hooks directory of their own, never /usr/bin/kvm or /etc/ganeti/hooks.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import t from "tap";
import { HOOK_LINKS } from "../src/host/plugin-files.js";
import { ROOT } from "./helpers/hook.js";
import { LAUNCHER, REAL_QEMU, run } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const COMMAND = join(ROOT, "bin/ganeti-qemu-blockdev");
/** The command with a hooks directory of the test's own. */
const setup = (action: string, args: string[], env: Record<string, string>, hooksDir: string) =>
  run(COMMAND, [action, ...args, "--hooks-dir", hooksDir], env);
/** The links in a hooks directory, as `<dir>/<name> -> target`. */
const linksIn = (hooksDir: string) =>
  existsSync(hooksDir)
    ? readdirSync(hooksDir, { recursive: true, encoding: "utf8" })
        .filter((f) => lstatSync(join(hooksDir, f)).isSymbolicLink())
        .sort()
        .map((f) => `${f} -> ${readlinkSync(join(hooksDir, f))}`)
    : [];
const diverted = (path: string) => execFileSync("dpkg-divert", ["--list", path], { encoding: "utf8" });

t.test(
  "enable links the hooks, diverts the binary and puts the launcher there; disable undoes both, running VMs untouched",
  async (t) => {
    const dir = tempDir(t);
    const hooks = join(dir, "hooks");
    const path = `/usr/local/bin/gqb-divert-test-${process.pid}`;
    const env = { GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json"), GANETI_QEMU_BLOCKDEV_CACHE_DIR: dir };
    symlinkSync(REAL_QEMU, path); // as Debian's /usr/bin/kvm is
    t.teardown(() => {
      rmSync(path, { force: true });
      if (diverted(path).includes(path)) execFileSync("dpkg-divert", ["--local", "--rename", "--remove", path]);
      rmSync(`${path}.distrib`, { force: true });
    });

    const install = await setup("enable", ["--path", path], env, hooks);
    t.equal(install.code, 0, install.stderr.toString());
    t.same(
      linksIn(hooks),
      HOOK_LINKS.map(({ hook, link }) => `${link} -> ${join(ROOT, "hooks", hook)}`).sort(),
      "every hook linked where Ganeti runs it",
    );
    t.equal(readlinkSync(path), LAUNCHER, `${path} is the launcher`);
    t.equal(readlinkSync(`${path}.distrib`), REAL_QEMU, "the real binary, renamed in its own directory");
    t.match(diverted(path), `diversion of ${path} to ${path}.distrib`, "a local dpkg diversion");
    t.equal(JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")).qemu, `${path}.distrib`, "the config names it");
    const direct = await run(REAL_QEMU, ["--version"]);
    const via = await run(path, ["--version"], env);
    t.ok(via.stdout.equals(direct.stdout), "a probe through the diverted path reaches the real QEMU");
    const again = await setup("enable", ["--path", path], env, hooks);
    t.equal(again.code, 0, "enabling again changes nothing");
    t.notMatch(again.stdout.toString(), /linked|diverted/, "and says so");

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

    const uninstall = await setup("disable", ["--path", path], env, hooks);
    t.equal(uninstall.code, 0, uninstall.stderr.toString());
    t.same(
      linksIn(hooks),
      [`cluster-verify-post.d/50-qemu-blockdev-verify -> ${join(ROOT, "hooks/cluster-verify")}`],
      "no hook link left but cluster-verify's, which reports the node disabled",
    );
    t.equal(readlinkSync(path), REAL_QEMU, `${path} is the real binary again`);
    t.notOk(existsSync(`${path}.distrib`), "no .distrib left");
    t.notMatch(diverted(path), path, "no diversion left");
    t.notOk("qemu" in JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")), "the config no longer names it");
    t.ok(existsSync(`/proc/${pid}`), "the VM started through the launcher still runs");
    t.equal((await setup("disable", ["--path", path], env, hooks)).code, 0, "disabling again changes nothing");
    t.equal((await setup("disable", ["--all"], env, hooks)).code, 0, "disable --all, as the package's removal");
    t.same(linksIn(hooks), [], "takes the cluster-verify hook too");
    t.ok(lstatSync(path).isSymbolicLink());
  },
);

t.test("refusals: no such binary (the hooks linked are unlinked again), a relative path, no command, a link taken", async (t) => {
  const dir = tempDir(t);
  const hooks = join(dir, "hooks");
  const env = { GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json") };
  const none = await setup("enable", ["--path", "/usr/local/bin/gqb-no-such-kvm"], env, hooks);
  t.equal(none.code, 1);
  t.match(none.stderr.toString(), /NOTHING_TO_DIVERT/);
  t.same(linksIn(hooks), [], "no half enable: the hooks are unlinked again");
  t.equal((await setup("enable", ["--path", "bin/kvm"], env, hooks)).code, 2);
  t.equal((await run(COMMAND, [], env)).code, 2);
  t.equal((await run(COMMAND, ["frobnicate"], env)).code, 2);
  const help = await run(COMMAND, ["--help"], env);
  t.match(help.stdout.toString(), /enable[\s\S]*disable[\s\S]*reconcile INSTANCE/, "--help lists every command");

  const other = join(hooks, HOOK_LINKS[1].link);
  mkdirSync(join(other, ".."), { recursive: true });
  writeFileSync(other, "#!/bin/sh\n");
  const taken = await setup("enable", ["--hooks-only"], env, hooks);
  t.equal(taken.code, 1);
  t.match(taken.stderr.toString(), /HOOK_LINK_TAKEN/);
  t.same(linksIn(hooks), [], "nothing linked");
  t.equal(readFileSync(other, "utf8"), "#!/bin/sh\n", "and the operator's file untouched");

  // The plugin's own link from where it ran before (a checkout, before the package) is replaced.
  rmSync(other);
  symlinkSync("/opt/gqb-old-checkout/hooks/disk-add", other);
  const moved = await setup("enable", ["--hooks-only"], env, hooks);
  t.equal(moved.code, 0, moved.stderr.toString());
  t.match(moved.stdout.toString(), `(was -> /opt/gqb-old-checkout/hooks/disk-add)`, "saying what it replaced");
  t.equal(readlinkSync(other), join(ROOT, "hooks/disk-add"), "the link is this plugin's now");
});

t.test("enable creates the config file's directory, and a step that fails undoes the ones before it", async (t) => {
  const dir = tempDir(t);
  const hooks = join(dir, "hooks");
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
  const failed = await setup("enable", ["--path", path], env, hooks);
  t.equal(failed.code, 1, "the install fails");
  t.match(failed.stderr.toString(), `error [INSTALL_FAILED]: `, "a failure of the install");
  t.match(failed.stderr.toString(), `${path}.gqb-tmp`, "naming what was in the way");
  t.equal(readlinkSync(path), REAL_QEMU, `${path} is the real binary again`);
  t.notMatch(diverted(path), path, "the diversion was undone");
  t.notOk(existsSync(`${path}.distrib`), "no .distrib left");
  t.notOk(existsSync(env.GANETI_QEMU_BLOCKDEV_CONFIG), "no config written");

  rmSync(`${path}.gqb-tmp`, { recursive: true });
  t.same(linksIn(hooks), [], "no hook link left");
  const ok = await setup("enable", ["--path", path], env, hooks);
  t.equal(ok.code, 0, ok.stderr.toString());
  t.equal(
    JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")).qemu,
    `${path}.distrib`,
    "the config, in a new directory",
  );
  t.equal((await setup("disable", ["--path", path], env, hooks)).code, 0);
});
