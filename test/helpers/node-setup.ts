// A scratch node for enable and disable: a QEMU path, a hooks directory, a config, a cache and a
// dpkg database of the test's own (DPKG_ADMINDIR), so that no test diverts anything of the host's
// and parallel tests never see each other's diversions.

import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { HOOK_LINKS } from "../../src/host/plugin-files.js";
import { ROOT } from "./hook.js";
import { REAL_QEMU, run } from "./launcher.js";
import { tempDir } from "./tmp.js";

export const COMMAND = join(ROOT, "bin/ganeti-qemu-blockdev");

export interface ScratchNode {
  dir: string;
  hooks: string;
  /** The QEMU path Ganeti runs (a link to the real QEMU, as Debian's /usr/bin/kvm is). */
  path: string;
  env: Record<
    "GANETI_QEMU_BLOCKDEV_CONFIG" | "GANETI_QEMU_BLOCKDEV_CACHE_DIR" | "GANETI_QEMU_BLOCKDEV_LOG" | "DPKG_ADMINDIR",
    string
  >;
  /** The operator command on this node (`--path` and `--hooks-dir` added for enable, disable, status). */
  command: (args: string[], extra?: Record<string, string>) => ReturnType<typeof run>;
  /** What is on the node now: the path, its .distrib, the diversion, the config's qemu, the hook links. */
  state: () => NodeState;
  dpkgDivert: (...args: string[]) => string;
}

export interface NodeState {
  path: string;
  distrib: string;
  diversion: string;
  qemu: string;
  hooks: string[];
}

const what = (p: string) => {
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (!st) return "none";
  return st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : "file";
};

export function scratchNode(t: Test, name = "kvm"): ScratchNode {
  const dir = tempDir(t);
  const admin = join(dir, "dpkg");
  execFileSync("mkdir", ["-p", admin]);
  writeFileSync(join(admin, "diversions"), "");
  const hooks = join(dir, "hooks");
  const path = join(dir, name);
  symlinkSync(REAL_QEMU, path);
  const env = {
    GANETI_QEMU_BLOCKDEV_CONFIG: join(dir, "config.json"),
    GANETI_QEMU_BLOCKDEV_CACHE_DIR: join(dir, "cache"),
    GANETI_QEMU_BLOCKDEV_LOG: join(dir, "plugin.log"),
    DPKG_ADMINDIR: admin,
  };
  const dpkgDivert = (...args: string[]) =>
    execFileSync("dpkg-divert", args, { encoding: "utf8", env: { ...process.env, LC_ALL: "C", DPKG_ADMINDIR: admin } });
  const command = (args: string[], extra: Record<string, string> = {}) => {
    const scoped = ["enable", "disable", "status"].includes(args[0] ?? "") ? ["--path", path, "--hooks-dir", hooks] : [];
    return run(COMMAND, [...args, ...scoped], { ...env, ...extra });
  };
  const state = (): NodeState => {
    const config = existsSync(env.GANETI_QEMU_BLOCKDEV_CONFIG)
      ? JSON.parse(readFileSync(env.GANETI_QEMU_BLOCKDEV_CONFIG, "utf8"))
      : {};
    return {
      path: what(path),
      distrib: what(`${path}.distrib`),
      diversion: dpkgDivert("--list").trim(),
      qemu: config.qemu ?? "",
      hooks: existsSync(hooks)
        ? readdirSync(hooks, { recursive: true, encoding: "utf8" })
            .filter((f) => lstatSync(join(hooks, f)).isSymbolicLink())
            .sort()
        : [],
    };
  };
  return { dir, hooks, path, env, command, state, dpkgDivert };
}

/** The i-th hook link of the plugin's table, for tests that pick one (a missing one is a broken table). */
export function hookLink(i: number): (typeof HOOK_LINKS)[number] {
  const l = HOOK_LINKS[i];
  if (!l) throw new Error(`the plugin has no hook link #${i}`);
  return l;
}
