// The node's setup in this process (src/node/setup.ts and what it reads), for the edit loop and
// for coverage; node-setup.qemu.test.ts and node-setup-faults.qemu.test.ts run the same through
// the operator command. A scratch node: its own QEMU path, hooks directory, config, cache and dpkg
// database (DPKG_ADMINDIR), never the host's.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { HOOK_LINKS } from "../src/host/plugin-files.js";
import { diversionOf } from "../src/node/diversion.js";
import { deprecatedMachines } from "../src/node/machines.js";
import { nodeStatus } from "../src/node/node-status.js";
import { disableNode, diversionSteps, enableNode, halfState, launcherState } from "../src/node/setup.js";
import { ROOT } from "./helpers/hook.js";
import { REAL_QEMU } from "./helpers/launcher.js";
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
  const n = { root: ROOT, hooksDir: join(dir, "hooks"), path };
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
  t.same(launcherState(ROOT, [n.path]), { launcher: [n.path], half: [] });
  const status = nodeStatus(ROOT, n.hooksDir, "/nonexistent/bundle", [n.path]);
  t.same(status.launcher, [n.path]);
  t.equal(status.build, "source");
  lines.length = 0;
  enableNode(n, false, say);
  t.same(lines, [], "enabled again: nothing to do");
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
  t.same(halfState(diversionSteps(diversionOf(n.path, ROOT))), undefined, "the node is clean");
  process.env[FAULT] = "fail:hooks,undo-fail:divert";
  t.throws(() => enableNode(n, false, say), { message: /could not undo: divert .*nor what comes before it/ });
  t.match(launcherState(ROOT, [n.path]).half, [/is half enabled: it has copy, divert, lacks config, link/]);
  process.env[FAULT] = "fail:divert";
  t.throws(() => disableNode(n, false, say), { message: /^divert: injected fault/ });
  delete process.env[FAULT];
  disableNode(n, false, say);
  t.same(launcherState(ROOT, [n.path]), { launcher: [], half: [] }, "run again: clean");
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
