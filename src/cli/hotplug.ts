import { storageSettings } from "../blockdev/settings.js";
import { InputError, PluginError } from "../errors.js";
import { type HookEnvironment, instanceDiskPaths, readHookEnv } from "../ganeti/env.js";
import { diskLink, type NodePaths, runtimeFile } from "../ganeti/paths.js";
import { readRuntime, withLinks } from "../ganeti/runtime.js";
import type { HotplugInput } from "../generated/hotplug-input.js";
import type { HotplugOutput } from "../generated/hotplug-output.js";
import { validateHotplugInput } from "../generated/validators.js";
import { configPath, readConfig } from "../host/config.js";
import { alignLinks } from "../hotplug/disk-link.js";
import { reconcile } from "../hotplug/reconcile.js";
import { currentRuntime, type RuntimeSource, updateRuntime } from "../hotplug/runtime-file.js";
import { runsHere, type SessionOptions, TIMEOUT_DEFAULTS, withInstance } from "../hotplug/session.js";
import { type Args, COMMON_FLAGS, type Flag, nodePaths, PATH_FLAGS, readJsonInput, say, seconds, writeFd } from "./hook.js";

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

export interface HotplugContext extends RuntimeSource {
  /** How long disk-remove waits for the guest to release a device. */
  unplugTimeoutMs: number;
  name: string;
  env: HookEnvironment;
  input: HotplugInput | undefined;
  paths: NodePaths;
  session: SessionOptions;
  warn: (m: string) => void;
  warnings: string[];
}

/** A timeout in ms: the flag `--<name>-timeout`, else the operator's config file, else the default. */
export function timeouts(args: Args): (name: keyof typeof TIMEOUT_DEFAULTS) => number {
  const configured = readConfig(configPath(process.env)).timeouts ?? {};
  return (name) => seconds(args, `${name}-timeout`, configured[name] ?? TIMEOUT_DEFAULTS[name]) * 1000;
}

/** Reads and checks everything a hot-plug hook needs; undefined when there is nothing to do here. */
export function hotplugContext(hook: string, args: Args): HotplugContext | undefined {
  const env = readHookEnv(process.env);
  const input = readJsonInput<HotplugInput>(args, validateHotplugInput);
  const paths = nodePaths(args);
  const name = env.pre.name;
  if (!runsHere(paths, name)) {
    say(hook, "note", `instance ${name} does not run on this node (no QMP socket in ${paths.qmpDir}); nothing to do`);
    return undefined;
  }
  const timeout = timeouts(args);
  // Printed with the result: input that turns out invalid gets its one error line and nothing else.
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
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
    session: { paths, qmpTimeoutMs: timeout("qmp"), lockTimeoutMs: timeout("lock") },
    unplugTimeoutMs: timeout("unplug"),
    runtime,
    runtimePath,
    warn,
    warnings,
  };
}

/** The hvparams the instance was started with (runtime up_hvp); the environment's as a fallback. */
export function startedSettings(ctx: HotplugContext) {
  if (!ctx.runtime)
    ctx.warn("no KVM runtime file: using the hook environment's hvparams, which may differ from those the instance started with");
  return storageSettings(ctx.runtime?.[2] ?? ctx.env.pre.hv, ctx.warn);
}

/**
 * Runs one disk's change and prints its change tuple, Ganeti's style: `<verb>:done` or
 * `<verb>:failed`. Invalid input propagates (exit 2, nothing printed on stdout); any other failure
 * is reported as failed.
 */
export async function reportChange(
  hook: string,
  index: number | `cdrom/${number}`,
  warnings: string[],
  fn: () => Promise<Partial<HotplugOutput>>,
  verb: "hotplug" | "grow" | "medium" = "hotplug",
): Promise<0 | 1> {
  const what = typeof index === "number" ? `disk/${index}` : index;
  let out: HotplugOutput;
  try {
    out = { change: [what, `${verb}:done`], ...(await fn()), warnings: [] };
  } catch (e) {
    if (e instanceof InputError || !(e instanceof PluginError)) throw e;
    out = { change: [what, `${verb}:failed`], error: { code: e.code, message: e.message }, warnings: [] };
  }
  // This disk's warnings, taken out so that the next disk reports only its own.
  out.warnings = warnings.splice(0);
  for (const w of out.warnings) say(hook, "warning", w);
  if (out.error) say(hook, `error [${out.error.code}]`, `${what}: ${out.error.message}`);
  writeFd(1, `${JSON.stringify(out)}\n`);
  return out.change[1].endsWith(":done") ? 0 : 1;
}

/**
 * Finishes what nobody finished before this hook's own work (src/hotplug/reconcile.ts): in the post
 * phase, or with a JSON payload, every run of disk-add and disk-remove does it first, whatever the
 * modify changed. Each action is one line on stderr. A failure here is reported and the hook's own
 * work goes on: it meets the same VM either way.
 */
export async function reconcileFirst(hook: string, ctx: HotplugContext, adding: ReadonlySet<string> = new Set()): Promise<void> {
  const post = ctx.env.post;
  if (!post && !ctx.input) return;
  try {
    const { actions } = await withInstance(
      ctx.name,
      ctx.session,
      async (qmp) => {
        const doc = currentRuntime(ctx);
        const result = await reconcile(qmp, doc, adding);
        if (!post) return { ...result, base: doc };
        // Ganeti's links by its current indexes, and the runtime file's entries pointing at them.
        // The disks being added are disk-add's own to check, strictly (a foreign link refuses the add).
        const disks = post.disks.flatMap((d) =>
          d.dataPath && !adding.has(d.uuid) ? [{ index: d.index, uuid: d.uuid, path: d.dataPath }] : [],
        );
        const links = alignLinks(
          disks,
          (i) => diskLink(ctx.paths, ctx.name, i),
          instanceDiskPaths(ctx.env),
          (m) => result.actions.push(m),
        );
        const current = result.doc ?? doc;
        const relinked = current && withLinks(current, links);
        if (relinked) result.actions.push("pointed the runtime file's disk links at Ganeti's current indexes");
        return { actions: result.actions, doc: relinked ?? result.doc, base: doc };
      },
      ({ doc, base }) => {
        if (doc) updateRuntime(ctx, () => doc, base);
      },
    );
    for (const a of actions) say(hook, "reconcile", a);
  } catch (e) {
    if (!(e instanceof PluginError) || e instanceof InputError) throw e;
    say(hook, "warning", `reconciling ${ctx.name} first was not possible (${e.message}); going on`);
  }
}
