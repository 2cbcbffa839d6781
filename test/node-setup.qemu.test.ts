// enable and disable: the hooks linked into Ganeti's hooks directory, the launcher in place of the
// QEMU binary Ganeti calls (a diversion), and the undo of both, which leaves running VMs alone. On a
// scratch node (test/helpers/node-setup.ts): a QEMU path, hooks directory and dpkg database of the
// test's own, never /usr/bin/kvm or /etc/ganeti/hooks. Faults at every step: node-setup-faults.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { HOOK_LINKS } from "../src/host/plugin-files.js";
import { ROOT } from "./helpers/hook.js";
import { LAUNCHER, REAL_QEMU, run } from "./helpers/launcher.js";
import { COMMAND, hookLink, scratchNode } from "./helpers/node-setup.js";

t.test(
  "enable links the hooks, diverts the binary and puts the launcher there; disable undoes both, running VMs untouched",
  async (t) => {
    const node = scratchNode(t);
    const { dir, hooks, path, env } = node;
    const linksIn = () => node.state().hooks.map((l) => `${l} -> ${readlinkSync(join(hooks, l))}`);
    const diverted = () => node.dpkgDivert("--list");

    const install = await node.command(["enable"]);
    t.equal(install.code, 0, install.stderr.toString());
    t.same(
      linksIn(),
      HOOK_LINKS.map(({ hook, link }) => `${link} -> ${join(ROOT, "hooks", hook)}`).sort(),
      "every hook linked where Ganeti runs it",
    );
    t.equal(readlinkSync(path), LAUNCHER, `${path} is the launcher`);
    t.equal(readlinkSync(`${path}.distrib`), REAL_QEMU, "the real binary, under a second name in its own directory");
    t.match(diverted(), `diversion of ${path} to ${path}.distrib`, "a local dpkg diversion");
    t.equal(JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")).qemu, `${path}.distrib`, "the config names it");
    t.match(
      readFileSync(env.GANETI_QEMU_BLOCKDEV_LOG, "utf8"),
      /ganeti-qemu-blockdev\[\d+\]: enable: diverted .*\n.*enable: .*names .* as the real QEMU\n.*enable: .* is now a link to/,
      "each step in the plugin's log, in order",
    );
    const direct = await run(REAL_QEMU, ["--version"]);
    const via = await run(path, ["--version"], env);
    t.ok(via.stdout.equals(direct.stdout), "a probe through the diverted path reaches the real QEMU");
    const again = await node.command(["enable"]);
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

    const uninstall = await node.command(["disable"]);
    t.equal(uninstall.code, 0, uninstall.stderr.toString());
    t.same(
      linksIn(),
      [`cluster-verify-post.d/50-qemu-blockdev-verify -> ${join(ROOT, "hooks/cluster-verify")}`],
      "no hook link left but cluster-verify's, which reports the node disabled",
    );
    t.equal(readlinkSync(path), REAL_QEMU, `${path} is the real binary again`);
    t.notOk(existsSync(`${path}.distrib`), "no .distrib left");
    t.notMatch(diverted(), path, "no diversion left");
    t.notOk("qemu" in JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")), "the config no longer names it");
    t.ok(existsSync(`/proc/${pid}`), "the VM started through the launcher still runs");
    t.equal((await node.command(["disable"])).code, 0, "disabling again changes nothing");
    t.equal((await node.command(["disable", "--all"])).code, 0, "disable --all, as the package's removal");
    t.same(linksIn(), [], "takes the cluster-verify hook too");
    t.ok(lstatSync(path).isSymbolicLink());
  },
);

t.test("refusals: no such binary (the hooks linked are unlinked again), a relative path, no command, a link taken", async (t) => {
  const node = scratchNode(t);
  const { hooks, env } = node;
  const setup = (action: string, args: string[]) => run(COMMAND, [action, ...args, "--hooks-dir", hooks], env);
  const none = await setup("enable", ["--path", join(node.dir, "no-such-kvm")]);
  t.equal(none.code, 1);
  t.match(none.stderr.toString(), /NOTHING_TO_DIVERT/);
  t.same(node.state().hooks, [], "no half enable: no hook linked");
  t.equal((await setup("enable", ["--path", "bin/kvm"])).code, 2);
  t.equal((await run(COMMAND, [], env)).code, 2);
  t.equal((await run(COMMAND, ["frobnicate"], env)).code, 2);
  const help = await run(COMMAND, ["--help"], env);
  t.match(help.stdout.toString(), /enable[\s\S]*disable[\s\S]*reconcile INSTANCE/, "--help lists every command");

  const other = join(hooks, hookLink(1).link);
  mkdirSync(join(other, ".."), { recursive: true });
  writeFileSync(other, "#!/bin/sh\n");
  const taken = await setup("enable", ["--hooks-only"]);
  t.equal(taken.code, 1);
  t.match(taken.stderr.toString(), /HOOK_LINK_TAKEN/);
  t.same(node.state().hooks, [], "nothing linked");
  t.equal(readFileSync(other, "utf8"), "#!/bin/sh\n", "and the operator's file untouched");

  // The plugin's own link from where it ran before (a checkout, before the package) is replaced.
  rmSync(other);
  symlinkSync("/opt/gqb-old-checkout/hooks/disk-add", other);
  const moved = await setup("enable", ["--hooks-only"]);
  t.equal(moved.code, 0, moved.stderr.toString());
  t.match(moved.stdout.toString(), `(was -> /opt/gqb-old-checkout/hooks/disk-add)`, "saying what it replaced");
  t.equal(readlinkSync(other), join(ROOT, "hooks/disk-add"), "the link is this plugin's now");
});

t.test("enable creates the config file's directory, and keeps the mode and the place of an existing one", async (t) => {
  const node = scratchNode(t);
  const env = { GANETI_QEMU_BLOCKDEV_CONFIG: join(node.dir, "new-dir/config.json") };
  const ok = await node.command(["enable"], env);
  t.equal(ok.code, 0, ok.stderr.toString());
  t.equal(
    JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8")).qemu,
    `${node.path}.distrib`,
    "the config, in a new directory",
  );
  t.equal(lstatSync(env.GANETI_QEMU_BLOCKDEV_CONFIG).mode & 0o777, 0o644, "readable by all, as the package ships it");
  t.equal((await node.command(["disable"], env)).code, 0);

  // A config managed elsewhere (a symlink), 0644 as shipped: written through the link, mode kept.
  const real = join(node.dir, "managed.json");
  writeFileSync(real, '{"timeouts": {"qmp": 7}}\n', { mode: 0o644 });
  rmSync(node.env.GANETI_QEMU_BLOCKDEV_CONFIG, { force: true });
  symlinkSync(real, node.env.GANETI_QEMU_BLOCKDEV_CONFIG);
  const old = process.umask(0o077);
  try {
    t.equal((await node.command(["enable"])).code, 0);
  } finally {
    process.umask(old);
  }
  t.ok(lstatSync(node.env.GANETI_QEMU_BLOCKDEV_CONFIG).isSymbolicLink(), "the config is still the link");
  t.same(JSON.parse(readFileSync(real, "utf8")), { timeouts: { qmp: 7 }, qemu: `${node.path}.distrib` }, "written through it");
  t.equal(lstatSync(real).mode & 0o777, 0o644, "its mode kept, whatever the umask");
  t.equal((await node.command(["disable"])).code, 0);
  t.same(JSON.parse(readFileSync(real, "utf8")), { timeouts: { qmp: 7 } }, "disable, through the link too");
});

t.test("hook links are all or nothing, and a temporary left by a killed enable is no obstacle", async (t) => {
  const node = scratchNode(t);
  const [first, second] = [hookLink(0), hookLink(1)];
  // A killed enable's temporary beside a link of the plugin's from another place (replaced by rename).
  mkdirSync(join(node.hooks, first.link, ".."), { recursive: true });
  symlinkSync("/opt/gqb-old-checkout/hooks/instance-start", join(node.hooks, first.link));
  symlinkSync("/opt/gqb-old-checkout/hooks/instance-start", join(node.hooks, `${first.link}.gqb-tmp`));
  // A later hook's directory where no link can be made (read-only): the links made before go again.
  const blocked = join(node.hooks, second.link, "..");
  mkdirSync(blocked, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "ro", "gqb-ro", blocked]);
  const failed = await node.command(["enable", "--hooks-only"]).finally(() => execFileSync("umount", [blocked]));
  t.equal(failed.code, 1);
  t.match(failed.stderr.toString(), /HOOK_LINK_FAILED.*EROFS.*no hook was linked/);
  t.same(node.state().hooks, [first.link], "no link made by this enable is left");
  const ok = await node.command(["enable", "--hooks-only"]);
  t.equal(ok.code, 0, ok.stderr.toString());
  t.equal(node.state().hooks.length, HOOK_LINKS.length, "every hook linked, the stale temporary no obstacle");
  t.notOk(lstatSync(join(node.hooks, `${first.link}.gqb-tmp`), { throwIfNoEntry: false }), "and gone");
});

t.test("under a translated locale (apt passes LANG and LANGUAGE to maintainer scripts): the same steps", async (t) => {
  const node = scratchNode(t);
  const de = { LANG: "C.UTF-8", LANGUAGE: "de" };
  t.match(node.dpkgDivert("--help"), /./, "dpkg-divert runs");
  const on = await node.command(["enable"], de);
  t.equal(on.code, 0, on.stderr.toString());
  const status = JSON.parse((await node.command(["status", "--json"], de)).stdout.toString());
  t.same(status.launcher, [node.path], "status sees the launcher");
  t.equal((await node.command(["disable", "--all"], de)).code, 0);
  t.same(node.state(), { path: `-> ${REAL_QEMU}`, distrib: "none", diversion: "", qemu: "", hooks: [] }, "disable --all: clean");
});
