import { readHookEnv } from "../ganeti/env.js";
import type { HotplugInput } from "../generated/hotplug-input.js";
import { validateHotplugInput } from "../generated/validators.js";
import { configPath, readConfig } from "../host/config.js";
import { appendLog } from "../host/plugin-log.js";
import type { HotplugRequest } from "../hotplug/context.js";
import { runOperation } from "../hotplug/driver.js";
import type { Change, HotplugOperation } from "../hotplug/operation.js";
import { TIMEOUT_DEFAULTS } from "../hotplug/session.js";
import { type Args, COMMON_FLAGS, type Flag, nodePaths, PATH_FLAGS, readJsonInput, seconds } from "./args.js";
import { runHook, say, writeFd } from "./program.js";

export const HOTPLUG_FLAGS: Flag[] = [
  ...COMMON_FLAGS,
  {
    name: "qmp-timeout",
    value: "SECONDS",
    help: `connect/greeting and each QMP command (default: the config file's timeouts.qmp, else ${TIMEOUT_DEFAULTS.qmp})`,
  },
  {
    name: "lock-timeout",
    value: "SECONDS",
    help: `wait for another hook on the same instance (default: timeouts.lock, else ${TIMEOUT_DEFAULTS.lock})`,
  },
  {
    name: "unplug-timeout",
    value: "SECONDS",
    help: `wait for the guest to release a device: disk-remove, and disk-add's rollback (default: timeouts.unplug, else ${TIMEOUT_DEFAULTS.unplug})`,
  },
  ...PATH_FLAGS,
];

/** A timeout in ms: the flag `--<name>-timeout`, else the operator's config file, else the default. */
export function timeouts(args: Args): (name: keyof typeof TIMEOUT_DEFAULTS) => number {
  const configured = readConfig(configPath(process.env)).timeouts ?? {};
  return (name) => seconds(args, `${name}-timeout`, configured[name] ?? TIMEOUT_DEFAULTS[name]) * 1000;
}

/** What a hot-plug hook's command line, environment and JSON input ask for. */
function hotplugRequest(args: Args): HotplugRequest {
  return {
    env: readHookEnv(process.env),
    input: readJsonInput<HotplugInput>(args, validateHotplugInput),
    paths: nodePaths(args),
    timeouts: () => {
      const timeout = timeouts(args);
      return { qmp: timeout("qmp"), lock: timeout("lock"), unplug: timeout("unplug") };
    },
  };
}

/** A hot-plug hook: its usage text and its operation, run by src/hotplug/driver.ts. */
export function runHotplugHook<C extends Change, P extends object>(
  hook: string,
  summary: string,
  op: HotplugOperation<C, P>,
): Promise<void> {
  return runHook(hook, summary, HOTPLUG_FLAGS, (args) =>
    runOperation(op, hotplugRequest(args), {
      say: (kind, message) => say(hook, kind, message),
      result: (out) => writeFd(1, `${JSON.stringify(out)}\n`),
      log: (line) => appendLog(process.env, hook, line),
    }),
  );
}
