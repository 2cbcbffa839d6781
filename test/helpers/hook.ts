import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../lab/root.js";

export { ROOT };

export type EnvVars = Record<string, string>;

/** A recorded `env | sort` dump as a map. */
export function loadEnv(file: string): EnvVars {
  const env: EnvVars = {};
  for (const line of readFileSync(join(ROOT, "test/fixtures", file), "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

export interface HookResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
  ms: number;
}

/**
 * Runs a hook as Ganeti does: cwd /, no arguments of Ganeti's own, an environment of PATH plus
 * GANETI_* only (so no test-runner NODE_OPTIONS reach it), stdin /dev/null unless JSON is given.
 */
export function runHook(
  name: string,
  env: EnvVars,
  opts: { args?: string[]; stdin?: string; root?: string } = {},
): Promise<HookResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(join(opts.root ?? ROOT, "hooks", name), opts.args ?? [], {
      cwd: "/",
      // The recorded environments are Ganeti 3.0.2's: the hooks act as under 3.0 unless told otherwise.
      // The plugin's log goes nowhere unless a test names a file to read it from.
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        GANETI_QEMU_BLOCKDEV_GANETI_SHARE: "/usr/share/ganeti/3.0",
        GANETI_QEMU_BLOCKDEV_LOG: "/dev/null",
        ...env,
      },
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", reject);
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
    child.on("close", (code) => {
      let json: unknown;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json, ms: performance.now() - started });
    });
  });
}
