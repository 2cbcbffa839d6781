import type { HotplugError } from "../errors.js";
import type { RuntimeDiskEntry, RuntimeDocument } from "../generated/common.js";
import type { QmpClient } from "../qmp/client.js";
import type { HotplugContext } from "./context.js";
import type { Seen } from "./live.js";

/** Why there is nothing to do: every node and both phases run the hook, most of them idly. */
export type NoChange = { none: string };

/** One change a hook makes: a disk or a CD-ROM drive, as Ganeti's output names it. */
export interface Change {
  label: `disk/${number}` | `cdrom/${number}`;
}

/** A change that is not this hook's to make, with the note that says why (none: say nothing). */
export interface Skipped {
  skip: string | undefined;
}

/**
 * What an operation reads of the VM, all under the run's one lock: a look at QEMU (taken once and
 * shared until something changes the VM), and the runtime document (read once, kept as written).
 */
export interface View {
  seen: () => Promise<Seen>;
  doc: () => RuntimeDocument | undefined;
}

/** What `apply` hands the operation: the run's QMP session, under the instance's lock. */
export interface Session extends View {
  qmp: QmpClient;
  /** A new connection, for undoing steps after the first one dropped (the caller closes it). */
  reconnect: () => Promise<QmpClient>;
}

/**
 * What a change did, as a value. A failure says in its error's message what is left; the runtime
 * change is written whether it succeeded or not, since it records what QEMU now has (a disk the
 * guest kept, a disk gone whose node is left).
 */
export interface Applied {
  error?: HotplugError;
  /** The runtime file's change, applied under the same lock. */
  runtime?: (doc: RuntimeDocument) => RuntimeDocument;
  /** The disk's runtime entry, for the output line. */
  disk?: RuntimeDiskEntry;
  /** What else was done, for the plugin's log (the disk's I/O limits). */
  logged?: string[];
}

/**
 * A hot-plug hook's operation: select → prepare → apply, where apply rolls its own QMP steps back
 * (src/hotplug/add.ts, medium.ts). The driver (driver.ts) owns everything around it: the lock and
 * the QMP session (one of each per run), the context, reconcile-first, the runtime-file writes, the
 * output line and the exit status.
 * - An InputError from select or prepare is invalid input: exit 2, nothing sent to QEMU.
 * - A HotplugError thrown, or returned in Applied, fails the change: `<verb>:failed`, exit 1.
 */
export interface HotplugOperation<C extends Change, P extends object = C> {
  /** The verb of Ganeti's change tuple: `<verb>:done` or `<verb>:failed`. */
  verb: "hotplug" | "grow" | "medium";
  /** Which changes the request asks for, checked without the VM. */
  select(ctx: HotplugContext): C[] | NoChange;
  /** Reconcile the instance first (disk-add, disk-remove), sparing the disks `adding` (uuids). */
  reconcileFirst?: (changes: readonly C[]) => ReadonlySet<string>;
  /** Checks and host-side steps before the change: a medium's URL, a disk's link, what QEMU has. */
  prepare(ctx: HotplugContext, change: C, view: View): Promise<P | Skipped> | P | Skipped;
  /** The QMP steps, and their rollback on failure. */
  apply(ctx: HotplugContext, change: P, session: Session): Promise<Applied>;
}

export const isSkipped = (p: object): p is Skipped => "skip" in p;
