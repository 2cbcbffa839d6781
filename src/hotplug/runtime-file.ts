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
 * The runtime document as it is now. Call it under the instance lock: another hook may have
 * rewritten the file since this one started.
 */
export function currentRuntime(ctx: RuntimeSource): RuntimeDocument | undefined {
  return ctx.runtimePath ? readRuntime(ctx.runtimePath) : ctx.runtime;
}

/**
 * Applies a change to the runtime file, if one is in use; call it under the instance lock.
 * `current` is the document already read under that same lock, when the caller has one.
 */
export function updateRuntime(
  ctx: RuntimeSource,
  change: (doc: RuntimeDocument) => RuntimeDocument,
  current?: RuntimeDocument,
): void {
  const path = ctx.runtimePath;
  if (!path) return;
  try {
    const now = current ?? readRuntime(path);
    if (now) writeRuntime(path, change(now));
  } catch (e) {
    // QEMU has already changed; the file has not (the write is atomic). Running the hook again
    // finds the VM in its new state and records it.
    throw new HotplugError(
      "RUNTIME_WRITE_FAILED",
      `QEMU was changed but the runtime file ${path} could not be updated (${(e as Error).message}); run the hook again to record it`,
    );
  }
}
