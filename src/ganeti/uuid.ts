import type { RuntimeDiskEntry, RuntimeDocument } from "../generated/common.js";
import type { HotplugInput } from "../generated/hotplug-input.js";

/**
 * Ganeti's uuids in one case, lower, as Ganeti writes them: made so where a document arrives (the
 * runtime file, the JSON input; the environment in env.ts), so that every comparison after that
 * can be exact.
 */
export const normalUuid = (uuid: string): string => uuid.toLowerCase();

const withNormalUuid = <T extends { uuid: string }>(disk: T): T =>
  disk.uuid === normalUuid(disk.uuid) ? disk : { ...disk, uuid: normalUuid(disk.uuid) };

/** Runtime disk entries with their uuids normalised. */
export const withNormalEntries = (entries: readonly RuntimeDiskEntry[]): RuntimeDiskEntry[] =>
  entries.map((e) => [withNormalUuid(e[0]), e[1], e[2]]);

export const withNormalUuids = (doc: RuntimeDocument): RuntimeDocument => [doc[0], doc[1], doc[2], withNormalEntries(doc[3])];

/** A hot-plug hook's JSON input with its uuids normalised (see normalUuid). */
export function normalisedInput(input: HotplugInput): HotplugInput {
  return {
    ...input,
    ...(input.disk ? { disk: withNormalUuid(input.disk) } : {}),
    ...(input.runtime ? { runtime: withNormalUuids(input.runtime) } : {}),
  };
}
