// The node's setup in this process (src/node/setup.ts and what it reads), for the edit loop and
// for coverage; node-setup.qemu.test.ts and node-setup-faults.qemu.test.ts run the same through
// the operator command. A scratch node: its own QEMU path, hooks directory, config, cache and dpkg
// database (DPKG_ADMINDIR), never the host's.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { writeAtomically } from "../src/host/atomic-write.js";
import { privateDir } from "../src/host/cache-dir.js";
import { HOOK_LINKS } from "../src/host/plugin-files.js";
import { qemuLinkDir } from "../src/launcher/qemu-exec.js";
import { diversionOf } from "../src/node/diversion.js";
import { deprecatedMachines } from "../src/node/machines.js";
import { nodeStatus } from "../src/node/node-status.js";
import { disableNode, diversionSteps, enableNode, halfState, hookStep, launcherState } from "../src/node/setup.js";
import { ROOT } from "./helpers/hook.js";
import { REAL_QEMU } from "./helpers/launcher.js";
import { hookLink } from "./helpers/node-setup.js";
import { tempDir } from "./helpers/tmp.js";

const FAULT = "GANETI_QEMU_BLOCKDEV_SETUP_FAULT";
const LAUNCHER = join(ROOT, "hooks/qemu-launcher");

function scratch(t: Test) {
  const dir = tempDir(t);
  mkdirSync(join(dir, "dpkg"));
  writeFileSync(join(dir, "dpkg/diversions"), "");
  const env = {
    GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json"),
    GANETI_QEMU_BLOCKDEV_CACHE_DIR: join(dir, "cache"),
    GANETI_QEMU_BLOCKDEV_LOG: join(dir, "log"),
    DPKG_ADMINDIR: join(dir, "dpkg"),
  };
  const before = { ...process.env };
  Object.assign(process.env, env);
  t.teardown(() => {
    for (const k of Object.keys(env)) delete process.env[k];
    delete process.env[FAULT];
    Object.assign(process.env, before);
  });
  const path = join(dir, "kvm");
  symlinkSync(REAL_QEMU, path);
  const n = { root: ROOT, hooksDir: join(dir, "hooks"), path, cacheDir: join(dir, "cache") };
  const lines: string[] = [];
  const say = (l: string) => lines.push(l);
  return { dir, n, lines, say };
}

t.test("enable, status, disable: every step, in order, each said; then nothing to do", async (t) => {
  const { n, lines, say } = scratch(t);
  enableNode(n, false, say);
  t.match(lines.slice(0, 4), [/is a second name for/, /^diverted /, /names .* as the real QEMU/, /is now a link to/]);
  t.equal(lines.length, 4 + HOOK_LINKS.length, "and one line per hook");
  t.equal(readlinkSync(n.path), LAUNCHER);
  t.same(launcherState(ROOT, [n.path], n.cacheDir), { launcher: [n.path], half: [] });
  const status = nodeStatus(ROOT, n.hooksDir, "/nonexistent/bundle", [n.path]);
  t.same(status.launcher, [n.path]);
  t.equal(status.build, "source");
  lines.length = 0;
  enableNode(n, false, say);
  t.same(lines, [`${n.path} is the launcher already`], "enabled again: nothing to do, and said so");
  lines.length = 0;
  disableNode(n, false, say);
  t.equal(readlinkSync(n.path), REAL_QEMU, "QEMU at the path again");
  t.match(lines, [/removed the hook link/], "the hooks first");
  lines.length = 0;
  disableNode(n, true, say);
  t.same(lines.length, 1, "--all: the cluster-verify hook's link too");
});

t.test("a step that fails: what this run made is undone in reverse, the first error kept", async (t) => {
  const { n, lines, say } = scratch(t);
  process.env[FAULT] = "fail:link";
  t.throws(() => enableNode(n, false, say), { message: /injected fault \(fail:link\); the steps done before were undone/ });
  t.match(lines.slice(-3), [/^undone: .* as it was/, /^undone: removed the diversion/, /^undone: removed .*the second name/]);
  t.same(halfState(diversionSteps(diversionOf(n.path, ROOT), n.cacheDir)), undefined, "the node is clean");
  process.env[FAULT] = "fail:hooks,undo-fail:divert";
  t.throws(() => enableNode(n, false, say), { message: /could not undo: divert .*nor what comes before it/ });
  t.match(launcherState(ROOT, [n.path], n.cacheDir).half, [/is half enabled: it has copy, divert, lacks config, link/]);
  process.env[FAULT] = "fail:divert";
  t.throws(() => disableNode(n, false, say), { message: /^divert: injected fault/ });
  delete process.env[FAULT];
  disableNode(n, false, say);
  t.same(launcherState(ROOT, [n.path], n.cacheDir), { launcher: [], half: [] }, "run again: clean");
});

t.test("refusals before anything changes", async (t) => {
  const { dir, n, say } = scratch(t);
  writeFileSync(`${n.path}.distrib`, "someone else's");
  t.throws(() => enableNode(n, false, say), { code: "DISTRIB_TAKEN" });
  rmSync(`${n.path}.distrib`);
  execFileSync("dpkg-divert", ["--local", "--no-rename", "--divert", `${n.path}.elsewhere`, "--add", n.path], {
    env: process.env,
  });
  t.throws(() => enableNode(n, false, say), { code: "DIVERTED_ELSEWHERE", message: /diverted to .*\.elsewhere by LOCAL/ });
  execFileSync("dpkg-divert", ["--local", "--no-rename", "--remove", n.path], { env: process.env });
  rmSync(n.path);
  symlinkSync(LAUNCHER, n.path);
  t.throws(() => enableNode(n, false, say), { code: "QEMU_LOST" });
  const none = { ...n, path: join(dir, "no-such-kvm") };
  t.throws(() => enableNode(none, false, say), { code: "NOTHING_TO_DIVERT" });
});

t.test("the config: written through a symlink, its mode kept; an invalid one named by status", async (t) => {
  const { dir, n, say } = scratch(t);
  const real = join(dir, "managed.json");
  writeFileSync(real, "{}\n", { mode: 0o640 });
  symlinkSync(real, process.env["GANETI_QEMU_BLOCKDEV_CONFIG"] as string);
  enableNode(n, false, say);
  t.equal(JSON.parse(readFileSync(real, "utf8")).qemu, `${n.path}.distrib`);
  t.equal(execFileSync("stat", ["-c", "%a", real], { encoding: "utf8" }).trim(), "640");
  writeFileSync(real, "{not json");
  const problems = nodeStatus(ROOT, n.hooksDir, "/nonexistent", [n.path]).problems;
  t.ok(
    problems.some((p) => p.startsWith("the config is invalid")),
    problems.join("; "),
  );
});

t.test("deprecated machine types of running instances, from the runtime files", async (t) => {
  const { dir } = scratch(t);
  const help = execFileSync(REAL_QEMU, ["-machine", "help"], { encoding: "utf8" });
  const old = /^(pc-i440fx-\S+)\s.*\(deprecated\)\s*$/m.exec(help)?.[1];
  const paths = { diskDir: dir, qmpDir: join(dir, "ctrl"), runtimeDir: join(dir, "conf"), cacheDir: join(dir, "cache") };
  t.same(deprecatedMachines(paths, REAL_QEMU), [], "no runtime directory: no instance");
  mkdirSync(paths.qmpDir);
  mkdirSync(paths.runtimeDir);
  const doc = JSON.parse(readFileSync(join(ROOT, "test/fixtures/ganeti-3.0.2/extra/kvm-runtime.instance-start.json"), "utf8"));
  doc[0][doc[0].indexOf("-machine") + 1] = old ?? "pc";
  writeFileSync(join(paths.runtimeDir, "a.runtime"), JSON.stringify(doc));
  writeFileSync(join(paths.runtimeDir, "b.runtime"), "{torn");
  for (const i of ["a", "b"]) writeFileSync(join(paths.qmpDir, `${i}.qmp`), "");
  const lines = deprecatedMachines(paths, REAL_QEMU);
  t.same(
    lines.length,
    old ? 1 : 0,
    old ? `${old} is deprecated by this QEMU: one line, none for the torn file` : "none deprecated",
  );
});

t.test(
  "hook links: someone else's file refuses the step; a moved link is replaced; a failure unlinks what was made",
  async (t) => {
    const { dir, n, lines, say } = scratch(t);
    const [first, second] = [hookLink(0), hookLink(1)];
    mkdirSync(join(n.hooksDir, first.link, ".."), { recursive: true });
    writeFileSync(join(n.hooksDir, first.link), "#!/bin/sh\n");
    t.throws(() => enableNode(n, true, say), { code: "HOOK_LINK_TAKEN" });
    rmSync(join(n.hooksDir, first.link));
    symlinkSync("/opt/old/hooks/instance-start", join(n.hooksDir, first.link));
    const blocked = join(n.hooksDir, second.link, "..");
    mkdirSync(blocked, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "ro", "gqb-ro", blocked]);
    try {
      t.throws(() => enableNode(n, true, say), { code: "HOOK_LINK_FAILED" });
    } finally {
      execFileSync("umount", [blocked]);
    }
    t.equal(readlinkSync(join(n.hooksDir, first.link)), join(ROOT, "hooks", first.hook), "and it stays this plugin's");
    lines.length = 0;
    enableNode(n, true, say);
    t.equal(lines.length, HOOK_LINKS.length - 1, "then every other hook is linked");
    void dir;
  },
);

t.test("status names what is wrong with the QEMU behind the launcher", async (t) => {
  const { dir, n, say } = scratch(t);
  enableNode(n, true, say);
  const config = process.env["GANETI_QEMU_BLOCKDEV_CONFIG"] as string;
  const problems = (qemu: string) => {
    writeFileSync(config, JSON.stringify({ qemu }));
    return nodeStatus(ROOT, n.hooksDir, "/nonexistent", [n.path]).problems;
  };
  t.match(problems(join(dir, "gone")), [/the QEMU behind the launcher, .*gone, is missing/]);
  t.match(problems("/bin/false"), [/the QEMU behind the launcher, \/bin\/false, does not answer: /]);
  writeFileSync(join(dir, "kvm-device"), "");
  process.env["GANETI_QEMU_BLOCKDEV_KVM_DEVICE"] = join(dir, "kvm-device");
  t.teardown(() => {
    delete process.env["GANETI_QEMU_BLOCKDEV_KVM_DEVICE"];
  });
  t.match(problems(REAL_QEMU), [/QEMU runs as .*qemu-system-x86_64, a name that does not try KVM/]);
  t.same(problems(n.path), [], "a QEMU named kvm on a host with /dev/kvm: nothing to say");
});

t.test("a QEMU that is a file (not a link): its second name a hard link; the launcher's QEMU links go at disable", async (t) => {
  const { dir, n, say } = scratch(t);
  rmSync(n.path);
  writeFileSync(n.path, "#!/bin/sh\n", { mode: 0o755 });
  enableNode(n, false, say);
  t.ok(statSync(`${n.path}.distrib`).isFile(), "the file, under its second name");
  // The cache the command was given (--cache-dir), not the variable's: one setting says where it is.
  const cache = join(dir, "given-cache");
  const links = qemuLinkDir(cache, `${n.path}.distrib`);
  mkdirSync(links, { recursive: true });
  const lines: string[] = [];
  disableNode({ ...n, cacheDir: cache }, false, (l) => lines.push(l));
  t.ok(lines.includes(`removed ${links}`), "the launcher's links for that QEMU removed, from the cache given");
  t.ok(statSync(n.path).isFile(), "QEMU a file again");
  void dir;
});

t.test("a failing dpkg-divert, a hook step's own undo, and writes that cannot land", async (t) => {
  const { dir, n, say } = scratch(t);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "dpkg-divert"), "#!/bin/sh\necho 'dpkg-divert: error: no' >&2\nexit 2\n", { mode: 0o755 });
  const path = process.env["PATH"];
  process.env["PATH"] = `${bin}:${path}`;
  try {
    t.throws(() => enableNode(n, false, say), {
      code: "DPKG_DIVERT_FAILED",
      message: /dpkg-divert --listpackage .*: dpkg-divert: error: no/,
    });
  } finally {
    process.env["PATH"] = path;
  }
  const step = hookStep(ROOT, n.hooksDir, false);
  const made = step.apply();
  t.equal(made.undo().length, HOOK_LINKS.length, "the hook step's undo unlinks what it linked");
  const aDir = join(dir, "a-directory");
  mkdirSync(aDir);
  t.throws(() => writeAtomically(aDir, "x"), "a write over a directory fails");
  t.same(
    readdirSync(dir).filter((f) => f.includes(".tmp-")),
    [],
    "and leaves no temporary",
  );
  writeFileSync(join(dir, "a-file"), "");
  t.notOk(privateDir(join(dir, "a-file", "cache")), "a cache directory that cannot be made is not trusted");
});
