import type { HotplugError } from "../errors.js";
import type { RuntimeDiskEntry, RuntimeDocument } from "../generated/common.js";
import type { QmpClient } from "../qmp/client.js";
import type { HotplugContext } from "./context.js";

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

/** Connects to the instance's QEMU for a look, under its lock, before the change itself. */
export type Peek = <R>(fn: (qmp: QmpClient) => Promise<R>) => Promise<R>;

/** What `apply` hands the operation: one QMP session under the instance's lock. */
export interface Session {
  qmp: QmpClient;
  /** A new connection, for undoing steps after the first one dropped (the caller closes it). */
  reconnect: () => Promise<QmpClient>;
  /** The runtime document as it is now, read under the lock; the base of the runtime change. */
  doc: () => RuntimeDocument | undefined;
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
}

/**
 * A hot-plug hook's operation: select → prepare → apply, where apply rolls its own QMP steps back
 * (src/hotplug/add.ts, medium.ts). The driver (driver.ts) owns everything around it: the context,
 * reconcile-first, the lock and the QMP session, the runtime-file write, the output line and the
 * exit status.
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
  /** Host-side checks and steps before the change's session: a medium's URL, a disk's link. */
  prepare(ctx: HotplugContext, change: C, peek: Peek): Promise<P | Skipped> | P | Skipped;
  /** The QMP steps, and their rollback on failure. */
  apply(ctx: HotplugContext, change: P, session: Session): Promise<Applied>;
}

export const isSkipped = (p: object): p is Skipped => "skip" in p;
