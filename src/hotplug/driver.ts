import { HotplugError, InputError, PluginError } from "../errors.js";
import { instanceDiskPaths } from "../ganeti/env.js";
import { diskLink } from "../ganeti/paths.js";
import { withLinks } from "../ganeti/runtime.js";
import type { HotplugOutput } from "../generated/hotplug-output.js";
import { type HotplugContext, type HotplugRequest, hotplugContext } from "./context.js";
import { alignLinks } from "./disk-link.js";
import { look, type Seen } from "./live.js";
import { type Applied, type Change, type HotplugOperation, isSkipped, type Session } from "./operation.js";
import { reconcile } from "./reconcile.js";
import { updateRuntime } from "./runtime-file.js";
import { InstanceSession, runsHere } from "./session.js";

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
 *
 * The whole run holds the instance's lock once, and talks to QEMU over one connection: the runtime
 * file is read once, reconcile-first, the decisions and the changes all happen in it, and what one
 * step learnt of the VM (a look) serves the next until a change makes it stale.
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
  const timeouts = request.timeouts();
  const session = await InstanceSession.open(name, {
    paths: request.paths,
    qmpTimeoutMs: timeouts.qmp,
    lockTimeoutMs: timeouts.lock,
  });
  try {
    const run = new Run(hotplugContext(request, timeouts), session);
    const changes = op.select(run.ctx);
    if (op.reconcileFirst) await reconcileFirst(run, op.reconcileFirst("none" in changes ? [] : changes), out);
    if ("none" in changes) {
      out.say("note", `${changes.none}; nothing to do`);
      return 0;
    }
    let status: 0 | 1 = 0;
    for (const change of changes) if ((await runChange(op, run, change, out)) === 1) status = 1;
    return status;
  } finally {
    session.close();
  }
}

/** One run's state under its lock: the context, the session, and the last look at the VM while it holds. */
class Run {
  private lastLook: Seen | undefined;
  readonly ctx: HotplugContext;
  readonly session: InstanceSession;
  constructor(ctx: HotplugContext, session: InstanceSession) {
    this.ctx = ctx;
    this.session = session;
  }

  /** The last look, or a new one: a look is true until this run changes the VM (`changed`). */
  readonly seen = async (): Promise<Seen> => {
    this.lastLook ??= await look(await this.session.client());
    return this.lastLook;
  };

  readonly doc = () => this.ctx.runtime;

  /** What the VM looks like after this run's reconcile, or nothing known after a change. */
  changed(now?: Seen): void {
    this.lastLook = now;
  }

  /** Writes a runtime change (the file, when in use) and keeps the result as the current document. */
  record(change: (doc: NonNullable<HotplugContext["runtime"]>) => NonNullable<HotplugContext["runtime"]>): void {
    this.ctx.runtime = updateRuntime(this.ctx, change, this.ctx.runtime) ?? this.ctx.runtime;
  }
}

/**
 * One change: prepared, applied with its runtime change written, and reported as one line,
 * Ganeti's style (`<verb>:done` or `<verb>:failed`, with this change's warnings). Invalid input
 * from select or prepare propagates (exit 2, nothing on stdout); once QEMU is being changed, an
 * InputError is a failure to hot-plug (what the live VM refuses: no free slot, a missing feature),
 * under its own code. An error that is not the plugin's ends the hook.
 */
async function runChange<C extends Change, P extends object>(
  op: HotplugOperation<C, P>,
  run: Run,
  change: C,
  out: Reporter,
): Promise<0 | 1> {
  const { ctx, session } = run;
  // Date.now(), not performance.now(): the first use of `performance` costs a hook ~1.4 ms.
  const started = Date.now();
  let applied: Applied;
  try {
    if (session.refused) throw session.refused;
    const prepared = await op.prepare(ctx, change, run);
    if (isSkipped(prepared)) {
      if (prepared.skip) out.say("note", prepared.skip);
      return 0;
    }
    applied = await applyOnce(op, run, prepared);
    if (applied.runtime) run.record(applied.runtime);
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
  for (const l of applied.logged ?? []) out.log(`${ctx.name} ${change.label} ${l}`);
  out.log(
    `${ctx.name} ${change.label} ${result.change[1]}${result.error ? ` [${result.error.code}] ${result.error.message}` : ""} (${ms} ms)`,
  );
  return applied.error ? 1 : 0;
}

/** The operation's QMP steps on the run's connection; whatever they did, the last look is stale after. */
async function applyOnce<C extends Change, P extends object>(
  op: HotplugOperation<C, P>,
  run: Run,
  prepared: P,
): Promise<Applied> {
  const { session } = run;
  const qmp = await session.client();
  const view: Session = { qmp, reconnect: session.connect, seen: run.seen, doc: run.doc };
  try {
    return await op.apply(run.ctx, prepared, view);
  } catch (e) {
    if (e instanceof InputError) throw new HotplugError(e.code, e.message);
    throw e;
  } finally {
    run.changed();
  }
}

/**
 * Finishes what nobody finished before this hook's own work (reconcile.ts): in the post phase, or
 * with a JSON payload, every run of disk-add and disk-remove does it first, whatever the modify
 * changed. Each action is one line. A failure here is reported and the hook's own work goes on: it
 * meets the same VM either way.
 */
async function reconcileFirst(run: Run, adding: ReadonlySet<string>, out: Reporter): Promise<void> {
  const { ctx } = run;
  const post = ctx.env.post;
  if (!post && !ctx.input) return;
  try {
    const base = ctx.runtime;
    const result = await reconcile(await run.session.client(), base, adding);
    run.changed(result.seen);
    let doc = result.doc;
    if (post) {
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
      const current = doc ?? base;
      const relinked = current && withLinks(current, links);
      if (relinked) result.actions.push("pointed the runtime file's disk links at Ganeti's current indexes");
      doc = relinked ?? doc;
    }
    if (doc) {
      const next = doc;
      run.record(() => next);
    }
    for (const a of result.actions) {
      out.say("reconcile", a);
      out.log(`${ctx.name} reconcile: ${a}`);
    }
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    out.say("warning", `reconciling ${ctx.name} first was not possible (${e.message}); going on`);
  }
}
