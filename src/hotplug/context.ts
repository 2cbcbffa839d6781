import { storageSettings } from "../blockdev/settings.js";
import type { HookEnvironment } from "../ganeti/env.js";
import { type NodePaths, runtimeFile } from "../ganeti/paths.js";
import { readRuntime } from "../ganeti/runtime.js";
import { normalisedInput } from "../ganeti/uuid.js";
import type { HotplugInput } from "../generated/hotplug-input.js";
import type { RuntimeSource } from "./runtime-file.js";
import type { SessionOptions } from "./session.js";

/** What the command line and the environment asked for, parsed and checked (src/cli). */
export interface HotplugRequest {
  env: HookEnvironment;
  input: HotplugInput | undefined;
  paths: NodePaths;
  /** Timeouts in ms; read only where the instance runs (the config file is not needed elsewhere). */
  timeouts: () => { qmp: number; lock: number; unplug: number };
}

/** Everything a hot-plug operation reads, for one run of its hook. */
export interface HotplugContext extends RuntimeSource {
  name: string;
  env: HookEnvironment;
  input: HotplugInput | undefined;
  paths: NodePaths;
  session: SessionOptions;
  /** How long an unplug waits for the guest to release a device. */
  unplugTimeoutMs: number;
  /** A warning about the change under way; printed with its result line. */
  warn: (m: string) => void;
  warnings: string[];
}

/**
 * The context of one run: the runtime document from the JSON input, else the runtime file, read
 * here once. Made under the instance's lock, which the run holds to its end: the document stays
 * current, kept so as the run writes it (driver.ts).
 */
export function hotplugContext(request: HotplugRequest, timeouts: ReturnType<HotplugRequest["timeouts"]>): HotplugContext {
  const { env, paths } = request;
  const input = request.input && normalisedInput(request.input);
  const name = env.pre.name;
  // Printed with the result: input that turns out invalid gets its one error line and nothing else.
  const warnings: string[] = [];
  let runtime = input?.runtime;
  let runtimePath: string | undefined;
  if (!runtime) {
    runtimePath = runtimeFile(paths, name);
    runtime = readRuntime(runtimePath);
    if (!runtime) runtimePath = undefined;
  }
  return {
    name,
    env,
    input,
    paths,
    session: { paths, qmpTimeoutMs: timeouts.qmp, lockTimeoutMs: timeouts.lock },
    unplugTimeoutMs: timeouts.unplug,
    runtime,
    runtimePath,
    warn: (m) => warnings.push(m),
    warnings,
  };
}

/** The hvparams the instance was started with (runtime up_hvp); the environment's as a fallback. */
export function startedSettings(ctx: HotplugContext) {
  if (!ctx.runtime)
    ctx.warn("no KVM runtime file: using the hook environment's hvparams, which may differ from those the instance started with");
  return storageSettings(ctx.runtime?.[2] ?? ctx.env.pre.hv, ctx.warn);
}
