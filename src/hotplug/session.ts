import { existsSync } from "node:fs";
import { HotplugError, InputError } from "../errors.js";
import { lockDirOf, type NodePaths, qmpSocket } from "../ganeti/paths.js";
import { QmpClient } from "../qmp/client.js";
import { lockInstance } from "./lock.js";

/** Default timeouts of the hot-plug hooks, in seconds: flags override them. */
export const TIMEOUT_DEFAULTS = {
  /** Connect and greeting, then each QMP command. */
  qmp: 10,
  /** Waiting for another hook on the same instance. */
  lock: 60,
  /**
   * Waiting for the guest to release an unplugged device. Ganeti runs hooks with no timeout of its
   * own and holds the job meanwhile; its own hot-unplug check waits 5 s as well.
   */
  unplug: 5,
} as const;

export interface SessionOptions {
  paths: NodePaths;
  qmpTimeoutMs: number;
  lockTimeoutMs: number;
}

/** Whether the instance's QEMU runs on this node: its QMP socket is here. */
export const runsHere = (paths: NodePaths, instance: string) => existsSync(qmpSocket(paths, instance));

/**
 * Runs `fn` holding the instance's lock and a QMP connection. The connection is closed as soon as
 * `fn` is done with QEMU (QEMU serves one client per socket; Ganeti needs it too); `after` runs
 * still under the lock, for the runtime file. `fn`'s `reconnect` opens a new connection (the
 * caller closes it): a step whose connection dropped can still look at QEMU and undo what it did.
 */
export async function withInstance<T>(
  instance: string,
  opts: SessionOptions,
  fn: (qmp: QmpClient, reconnect: () => Promise<QmpClient>) => Promise<T>,
  after: (result: T) => void = () => {},
): Promise<T> {
  const release = await lockInstance(instance, opts.lockTimeoutMs, lockDirOf(opts.paths));
  try {
    const connect = () =>
      QmpClient.connect(qmpSocket(opts.paths, instance), {
        timeoutMs: opts.qmpTimeoutMs,
        commandTimeoutMs: opts.qmpTimeoutMs,
      });
    const qmp = await connect();
    let result: T;
    try {
      result = await fn(qmp, connect);
    } catch (e) {
      // The one place that classifies: exit 2 means invalid input with nothing sent to QEMU, and
      // by now QEMU has been talked to. What the live VM refuses (no free slot, a missing feature)
      // is a failure to hot-plug, reported as such (exit 1, hotplug:failed), under its own code.
      if (e instanceof InputError) throw new HotplugError(e.code, e.message);
      throw e;
    } finally {
      qmp.close();
    }
    after(result);
    return result;
  } finally {
    release();
  }
}

/**
 * Runs `fn` on an open connection to QEMU: `qmp`, or a new one from `reconnect` when `qmp` has
 * dropped (closed again afterwards). For undoing steps: a dropped connection is no reason to leave
 * them done, since QEMU still runs and takes another client. Without either, `fn` gets the closed
 * `qmp` and says what it could not do.
 */
export async function onOpenConnection<T>(
  qmp: QmpClient,
  reconnect: (() => Promise<QmpClient>) | undefined,
  fn: (qmp: QmpClient) => Promise<T>,
): Promise<T> {
  const fresh = qmp.closed && reconnect ? await reconnect().catch(() => undefined) : undefined;
  try {
    return await fn(fresh ?? qmp);
  } finally {
    fresh?.close();
  }
}
