import { readFileSync } from "node:fs";
import { InputError, PluginError } from "../errors.js";
import type { RuntimeDiskEntry, RuntimeDocument } from "../generated/common.js";
import { validateHotplugInput } from "../generated/validators.js";
import { writeAtomically } from "../host/atomic-write.js";
import { check, jsonPath } from "../host/validate.js";
import { withNormalUuids } from "./uuid.js";

/** Reads Ganeti's KVM runtime file; undefined when there is none (an instance Ganeti did not start). */
export function readRuntime(path: string): RuntimeDocument | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PluginError("RUNTIME_UNREADABLE", `cannot read runtime file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError("INVALID_RUNTIME", `runtime file ${path} is not JSON: ${(e as Error).message}`);
  }
  // The hot-plug input schema carries the runtime document's definition.
  check(
    validateHotplugInput,
    { runtime: doc },
    "INVALID_RUNTIME",
    (p) => `runtime file ${path} at ${jsonPath(p.replace(/^\/runtime/, ""))}`,
  );
  return withNormalUuids(doc as RuntimeDocument);
}

/** Writes the runtime file atomically, so a crash never leaves a torn one. */
export function writeRuntime(path: string, doc: RuntimeDocument): void {
  writeAtomically(path, JSON.stringify(doc));
}

/** The runtime with `entry` in place of the disk with the same uuid (or appended). */
export function withDisk(doc: RuntimeDocument, entry: RuntimeDiskEntry): RuntimeDocument {
  const disks = doc[3].filter((e) => e[0].uuid !== entry[0].uuid);
  return [doc[0], doc[1], doc[2], [...disks, entry]];
}

/**
 * A runtime file Ganeti 3.0 wrote, as Ganeti 3.1 leaves it after its upgrade (an instance without
 * VNC keeps disk_discard=default, a value 3.1 passes to QEMU, which refuses it): Ganeti's own
 * hot-add cannot work on it.
 */
export const keepsDiscardDefault = (doc: RuntimeDocument | undefined): boolean => doc?.[2]["disk_discard"] === "default";

/** The runtime with disk_discard=default read as 3.0 meant it, QEMU's default (ignore). */
export function withDiscardMended(doc: RuntimeDocument): RuntimeDocument {
  return keepsDiscardDefault(doc) ? [doc[0], doc[1], { ...doc[2], disk_discard: "ignore" }, doc[3]] : doc;
}

export function withoutDisk(doc: RuntimeDocument, uuid: string): RuntimeDocument {
  return [doc[0], doc[1], doc[2], doc[3].filter((e) => e[0].uuid !== uuid)];
}

/** The runtime with each listed disk's link (by uuid) replaced; undefined when nothing changes. */
export function withLinks(doc: RuntimeDocument, links: ReadonlyMap<string, string>): RuntimeDocument | undefined {
  let changed = false;
  const disks = doc[3].map((e): RuntimeDiskEntry => {
    const link = links.get(e[0].uuid);
    if (link === undefined || link === e[1]) return e;
    changed = true;
    return [e[0], link, e[2]];
  });
  return changed ? [doc[0], doc[1], doc[2], disks] : undefined;
}
