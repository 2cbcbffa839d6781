// The accelerator a QEMU chose, asked in the two ways that exist. Where QEMU opened /dev/kvm, it says
// nothing on stderr, and only QMP tells (query-accelerators where the QEMU has it, query-kvm before:
// QEMU 11 deprecates the latter). Where it found no usable /dev/kvm, it says so on stderr before
// falling back to TCG. test/accel.sh chooses the suite's accelerator; these read what QEMU did.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { QmpClient } from "../../src/qmp/client.js";
import { ROOT } from "./hook.js";

/** What QEMU says when it tries KVM and cannot open or use /dev/kvm, before it falls back to TCG. */
export const TRIED_KVM = /failed to initialize kvm[^\n]*\n[^\n]*falling back to tcg/;

/** The suite's accelerator, as test/accel.sh chose it (tcg where the suite was run without it). */
export const SUITE_ACCEL: "kvm" | "tcg" = process.env["GQB_ACCEL"] === "kvm" ? "kvm" : "tcg";
/** The choice in words, for each suite's first lines. */
export const ACCELERATOR = `accelerator: ${SUITE_ACCEL} (${process.env["GQB_ACCEL_WHY"] ?? "run without test/accel.sh"})`;

/** The enabled accelerator in an answer of query-accelerators (its shape taken as QEMU gives it). */
function enabledIn(answer: unknown): string | undefined {
  const a = answer as { enabled?: unknown } | { name?: unknown; enabled?: unknown }[] | undefined;
  if (Array.isArray(a)) return a.find((x) => x.enabled === true)?.name as string | undefined;
  return typeof a?.enabled === "string" ? a.enabled : undefined;
}

/** The accelerator a running QEMU uses: "kvm", or "tcg" where KVM is not enabled. */
export async function accelerator(qmp: QmpClient): Promise<string> {
  const commands = (await qmp.execute("query-commands")) as { name: string }[];
  if (commands.some((c) => c.name === "query-accelerators")) {
    const name = enabledIn(await qmp.execute("query-accelerators"));
    if (name) return name;
  }
  return ((await qmp.execute("query-kvm")) as { enabled: boolean }).enabled ? "kvm" : "tcg";
}

/** Whether a QEMU tried KVM first: it runs on KVM (QMP), or it said it could not (its stderr or log). */
export const triedKvm = (accel: string | undefined, stderr: string) => accel === "kvm" || TRIED_KVM.test(stderr);

/**
 * argv prefixes that run a program where QEMU finds no /dev/kvm, and where it finds the host's.
 * Under test/accel.sh's TCG the test's own namespace has none, and the host's is reached through
 * GQB_HOST_MNT_NS; without accel.sh, a namespace without it is made by accel.sh itself. `undefined`
 * with a reason where there is no such place (a host without /dev/kvm).
 */
export function kvmPlaces(): { without: string[]; with: string[] | undefined; why?: string } {
  const accelSh = join(ROOT, "test/accel.sh");
  const without = existsSync("/dev/kvm") ? ["env", "GQB_ACCEL=tcg", "GQB_ACCEL_CHOSEN=", "bash", accelSh] : [];
  if (existsSync("/dev/kvm")) return { without, with: [] };
  const ns = process.env["GQB_HOST_MNT_NS"];
  if (ns && spawnSync("nsenter", [`--mount=${ns}`, "--", "test", "-e", "/dev/kvm"]).status === 0)
    return { without, with: ["nsenter", `--mount=${ns}`, "--"] };
  return { without, with: undefined, why: "this host has no /dev/kvm: only the stderr path runs" };
}

/**
 * Runs `cmd argv` paused with QMP on stdio, asks which accelerator it chose, and quits it: exit
 * status, accelerator (undefined where QEMU never answered) and stderr.
 */
export function askAccelerator(
  prefix: readonly string[],
  cmd: string,
  argv: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; accel: string | undefined; stderr: string }> {
  const [exe, ...pre] = [...prefix, cmd];
  const child = spawn(exe ?? cmd, [...pre, ...argv, "-S", "-qmp", "stdio"], {
    cwd: "/",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", GANETI_QEMU_BLOCKDEV_LOG: "/dev/null", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const send = (o: object) => child.stdin.write(`${JSON.stringify(o)}\n`);
  send({ execute: "qmp_capabilities" });
  send({ execute: "query-accelerators", id: "accels" });
  send({ execute: "query-kvm", id: "kvm" });
  send({ execute: "quit" });
  child.stdin.end();
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on("data", (b: Buffer) => {
    err += b.toString();
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const answers = new Map<string, unknown>();
      for (const line of out.split("\n")) {
        try {
          const m = JSON.parse(line) as { id?: string; return?: unknown };
          if (m.id && "return" in m) answers.set(m.id, m.return);
        } catch {}
      }
      const kvm = answers.get("kvm") as { enabled: boolean } | undefined;
      const accel = enabledIn(answers.get("accels")) ?? (kvm ? (kvm.enabled ? "kvm" : "tcg") : undefined);
      resolve({ code, accel, stderr: err });
    });
  });
}
