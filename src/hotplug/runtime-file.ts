import { HotplugError } from "../errors.js";
import { readRuntime, writeRuntime } from "../ganeti/runtime.js";
import type { RuntimeDocument } from "../generated/common.js";

/** Where a hot-plug hook's runtime document comes from: the JSON's, else the runtime file's. */
export interface RuntimeSource {
  runtime: RuntimeDocument | undefined;
  /** Set when the document is the runtime file's: then changes are written back to it. */
  runtimePath: string | undefined;
}

/**
 * Applies a change to the runtime file, if one is in use; call it under the instance lock.
 * `current` is the document already read under that same lock, when the caller has one. Returns
 * the document as changed (undefined when there is none to change).
 */
export function updateRuntime(
  ctx: RuntimeSource,
  change: (doc: RuntimeDocument) => RuntimeDocument,
  current?: RuntimeDocument,
): RuntimeDocument | undefined {
  const path = ctx.runtimePath;
  const now = current ?? (path ? readRuntime(path) : ctx.runtime);
  if (!now) return undefined;
  const next = change(now);
  if (!path) return next;
  try {
    writeRuntime(path, next);
    return next;
  } catch (e) {
    // QEMU has already changed; the file has not (the write is atomic). Running the hook again
    // finds the VM in its new state and records it.
    throw new HotplugError(
      "RUNTIME_WRITE_FAILED",
      `QEMU was changed but the runtime file ${path} could not be updated (${(e as Error).message}); run the hook again to record it`,
    );
  }
}
