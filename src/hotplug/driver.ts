import { InputError, PluginError } from "../errors.js";
import { instanceDiskPaths } from "../ganeti/env.js";
import { diskLink } from "../ganeti/paths.js";
import { withLinks } from "../ganeti/runtime.js";
import type { HotplugOutput } from "../generated/hotplug-output.js";
import { type HotplugContext, type HotplugRequest, hotplugContext } from "./context.js";
import { alignLinks } from "./disk-link.js";
import { type Applied, type Change, type HotplugOperation, isSkipped, type Peek } from "./operation.js";
import { reconcile } from "./reconcile.js";
import { currentRuntime, updateRuntime } from "./runtime-file.js";
import { runsHere, withInstance } from "./session.js";

/**
 * Where the driver's words go (src/cli/program.ts): stderr lines, the result lines on stdout, and
 * one line per action in the plugin's log, which outlives Ganeti's discarding of a hook's output.
 */
export interface Reporter {
  say(kind: string, message: string): void;
  result(out: HotplugOutput): void;
  log(line: string): void;
}

/**
 * Runs a hot-plug operation for one hook run and returns its exit status: 0 done or nothing to do,
 * 1 a change failed. Invalid input throws (exit 2) before QEMU is asked anything.
 */
export async function runOperation<C extends Change, P extends object>(
  op: HotplugOperation<C, P>,
  request: HotplugRequest,
  out: Reporter,
): Promise<0 | 1> {
  const name = request.env.pre.name;
  if (!runsHere(request.paths, name)) {
    out.say("note", `instance ${name} does not run on this node (no QMP socket in ${request.paths.qmpDir}); nothing to do`);
    return 0;
  }
  const ctx = hotplugContext(request);
  const changes = op.select(ctx);
  if (op.reconcileFirst) await reconcileFirst(ctx, op.reconcileFirst("none" in changes ? [] : changes), out);
  if ("none" in changes) {
    out.say("note", `${changes.none}; nothing to do`);
    return 0;
  }
  let status: 0 | 1 = 0;
  for (const change of changes) if ((await runChange(op, ctx, change, out)) === 1) status = 1;
  return status;
}

/**
 * One change: prepared, applied under the lock with its runtime change written, and reported as one
 * line, Ganeti's style (`<verb>:done` or `<verb>:failed`, with this change's warnings). Invalid
 * input propagates (exit 2, nothing on stdout); an error that is not the plugin's ends the hook.
 */
async function runChange<C extends Change, P extends object>(
  op: HotplugOperation<C, P>,
  ctx: HotplugContext,
  change: C,
  out: Reporter,
): Promise<0 | 1> {
  // Date.now(), not performance.now(): the first use of `performance` costs a hook ~1.4 ms.
  const started = Date.now();
  let applied: Applied;
  try {
    const peek: Peek = (fn) => withInstance(ctx.name, ctx.session, fn);
    const prepared = await op.prepare(ctx, change, peek);
    if (isSkipped(prepared)) {
      if (prepared.skip) out.say("note", prepared.skip);
      return 0;
    }
    applied = await withInstance(
      ctx.name,
      ctx.session,
      async (qmp, reconnect) => {
        let doc: ReturnType<typeof currentRuntime> | null = null;
        const read = () => {
          if (doc === null) doc = currentRuntime(ctx);
          return doc;
        };
        return { applied: await op.apply(ctx, prepared, { qmp, reconnect, doc: read }), doc: read };
      },
      ({ applied, doc }) => {
        if (applied.runtime) updateRuntime(ctx, applied.runtime, doc());
      },
    ).then((r) => r.applied);
  } catch (e) {
    if (e instanceof InputError || !(e instanceof PluginError)) throw e;
    applied = { error: e };
  }
  const result: HotplugOutput = {
    change: [change.label, `${op.verb}:${applied.error ? "failed" : "done"}`],
    ...(applied.disk && !applied.error ? { disk: applied.disk } : {}),
    ...(applied.error ? { error: { code: applied.error.code, message: applied.error.message } } : {}),
    // This change's warnings, taken out so that the next one reports only its own.
    warnings: ctx.warnings.splice(0),
  };
  for (const w of result.warnings) out.say("warning", w);
  if (result.error) out.say(`error [${result.error.code}]`, `${change.label}: ${result.error.message}`);
  out.result(result);
  const ms = Date.now() - started;
  out.log(
    `${ctx.name} ${change.label} ${result.change[1]}${result.error ? ` [${result.error.code}] ${result.error.message}` : ""} (${ms} ms)`,
  );
  return applied.error ? 1 : 0;
}

/**
 * Finishes what nobody finished before this hook's own work (reconcile.ts): in the post phase, or
 * with a JSON payload, every run of disk-add and disk-remove does it first, whatever the modify
 * changed. Each action is one line. A failure here is reported and the hook's own work goes on: it
 * meets the same VM either way.
 */
async function reconcileFirst(ctx: HotplugContext, adding: ReadonlySet<string>, out: Reporter): Promise<void> {
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
    for (const a of actions) {
      out.say("reconcile", a);
      out.log(`${ctx.name} reconcile: ${a}`);
    }
  } catch (e) {
    if (!(e instanceof PluginError) || e instanceof InputError) throw e;
    out.say("warning", `reconciling ${ctx.name} first was not possible (${e.message}); going on`);
  }
}
