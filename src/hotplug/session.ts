import { existsSync } from "node:fs";
import { HotplugError, PluginError } from "../errors.js";
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
 * One hook run's hold on an instance: its lock, taken once for the whole run, and one QMP
 * connection, opened when QEMU is first asked something (a run that only refuses its input, or
 * checks a medium on the network first, keeps QEMU's single QMP client slot free meanwhile).
 * A lock that could not be taken is kept as `refused`: the run reports it per change.
 */
export class InstanceSession {
  private qmp: QmpClient | undefined;
  readonly instance: string;
  private readonly opts: SessionOptions;
  private readonly release: () => void;
  readonly refused: PluginError | undefined;
  private constructor(instance: string, opts: SessionOptions, release: () => void, refused: PluginError | undefined) {
    this.instance = instance;
    this.opts = opts;
    this.release = release;
    this.refused = refused;
  }

  /** Takes the instance's lock; a lock that cannot be had is not thrown but kept as `refused`. */
  static async open(instance: string, opts: SessionOptions): Promise<InstanceSession> {
    try {
      const release = await lockInstance(instance, opts.lockTimeoutMs, lockDirOf(opts.paths));
      return new InstanceSession(instance, opts, release, undefined);
    } catch (e) {
      const refused =
        e instanceof PluginError
          ? e
          : new HotplugError("LOCK_FAILED", `cannot take the lock of ${instance}: ${(e as Error).message}`);
      return new InstanceSession(instance, opts, () => {}, refused);
    }
  }

  /**
   * The open connection: made on first use, and made again when the last one dropped (QEMU still
   * runs and takes another client; a step whose connection dropped can still look and undo).
   */
  async client(): Promise<QmpClient> {
    if (this.refused) throw this.refused;
    if (!this.qmp || this.qmp.closed) this.qmp = await this.connect();
    return this.qmp;
  }

  /** A connection of its own, which the caller closes. */
  readonly connect = (): Promise<QmpClient> =>
    QmpClient.connect(qmpSocket(this.opts.paths, this.instance), {
      timeoutMs: this.opts.qmpTimeoutMs,
      commandTimeoutMs: this.opts.qmpTimeoutMs,
    });

  /** Closes the connection, then lets the lock go. */
  close(): void {
    this.qmp?.close();
    this.release();
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
