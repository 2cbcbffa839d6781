import { readFileSync, statSync } from "node:fs";
import type { QemuVersion } from "../blockdev/model.js";
import { PluginError } from "../errors.js";
import { shortHash } from "../util/hash.js";
import { writeAtomically } from "./atomic-write.js";
import { builtin } from "./builtin.js";
import { ownedAlone, privateDir } from "./cache-dir.js";

export function parseVersion(text: string): QemuVersion | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/**
 * What a QEMU binary says of itself (`<kvm_path> <args>`), parsed: running QEMU costs more than the
 * whole hook, so the answer is cached per binary and question, keyed by inode, size and mtime (an
 * upgrade changes all three), in a cache only root could have written (cache-dir.ts).
 */
export function probeQemu<T>(kvmPath: string, cacheDir: string, args: string[], parse: (out: string) => T): T {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(kvmPath);
  } catch (e) {
    throw new PluginError(
      "QEMU_NOT_FOUND",
      `kvm_path ${kvmPath}: ${(e as Error).message} (set the kvm_path hvparam, or pass --qemu-version)`,
    );
  }
  const key = `${kvmPath}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
  const what = args.join("").replace(/[^a-z]/g, "");
  const file = `${cacheDir}/qemu-${what}-${shortHash(kvmPath)}.json`;
  try {
    if (!ownedAlone(cacheDir) || !ownedAlone(file)) throw new Error("not ours alone");
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key?: string; answer?: T };
    if (cached.key === key && cached.answer !== undefined) return cached.answer;
  } catch {
    // no cache yet, or an unreadable one: ask QEMU
  }
  let out: string;
  try {
    // Loaded only on a cache miss: node:child_process alone costs a hook ~4 ms of start-up.
    const { execFileSync } = builtin<typeof import("node:child_process")>("node:child_process");
    out = execFileSync(kvmPath, args, { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new PluginError("QEMU_VERSION", `cannot run ${kvmPath} ${args.join(" ")}: ${(e as Error).message.split("\n")[0]}`);
  }
  const answer = parse(out);
  try {
    if (privateDir(cacheDir)) writeAtomically(file, JSON.stringify({ key, answer }));
  } catch {
    // A read-only cache only costs time.
  }
  return answer;
}

/** QEMU's version, from `<kvm_path> --version`. */
export const probeQemuVersion = (kvmPath: string, cacheDir: string): QemuVersion =>
  probeQemu(kvmPath, cacheDir, ["--version"], (out) => {
    const version = parseVersion(out);
    if (!version) throw new PluginError("QEMU_VERSION", `cannot read a version from ${kvmPath} --version: ${out.split("\n")[0]}`);
    return version;
  });

/** The options a QEMU binary has, from its `-help` (each line that starts with one). */
export const probeQemuOptions = (kvmPath: string, cacheDir: string): string[] =>
  probeQemu(kvmPath, cacheDir, ["-help"], (out) => [...out.matchAll(/^-([a-z0-9][a-z0-9-]*)/gm)].map((m) => m[1] as string));

/** The machine types a QEMU binary has and those it deprecates, from its `-machine help`. */
export const probeMachineTypes = <T>(kvmPath: string, cacheDir: string, parse: (help: string) => T): T =>
  probeQemu(kvmPath, cacheDir, ["-machine", "help"], parse);
