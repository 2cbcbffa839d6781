import { deviceIdOf } from "../blockdev/ids.js";
import type { DiskSpec } from "../blockdev/model.js";
import { InputError } from "../errors.js";
import { dataPath, PATH_VARIABLES } from "../ganeti/disk-path.js";
import { specFromEntry, specFromEnv } from "../ganeti/disk-specs.js";
import type { EnvDisk, HookEnvironment } from "../ganeti/env.js";
import { diskLink, type NodePaths } from "../ganeti/paths.js";
import type { DevType, GanetiDisk, RuntimeDocument } from "../generated/common.js";
import type { HotplugInput } from "../generated/hotplug-input.js";
import type { NoChange } from "./operation.js";

const missingFrom = (a: readonly EnvDisk[], b: readonly EnvDisk[]) => a.filter((d) => !b.some((x) => x.uuid === d.uuid));

/** The disks in one env view and not in the other; Ganeti exports the change only in the post phase. */
function envDiff(env: HookEnvironment, kind: "add" | "remove"): EnvDisk[] | NoChange {
  if (!env.post) return { none: "the environment names no disk change (Ganeti exports it in the post phase only)" };
  const changed = kind === "add" ? missingFrom(env.post.disks, env.pre.disks) : missingFrom(env.pre.disks, env.post.disks);
  return changed.length
    ? changed
    : { none: `no disk was ${kind === "add" ? "added" : "removed"} (the disk lists before and after are the same)` };
}

/** A JSON disk's own path: its logical_id, else what the environment says of the same disk. */
export const diskPathOf = (disk: GanetiDisk, listed: EnvDisk | undefined): string | undefined =>
  dataPath(disk.dev_type, disk.logical_id) ?? listed?.dataPath;

/** The variable names that should have carried a disk's path, for an error message. */
function pathVariables(prefix: string, d: { index: number; devType: DevType }): string {
  return (PATH_VARIABLES[d.devType] ?? []).map((f) => `${prefix}DISK${d.index}_${f}`).join(" and ");
}

/**
 * The disks disk-add attaches: the JSON payload's, else those only the post environment lists.
 * Each gets its path from what Ganeti says of the disk (logical_id, or the environment's DISKn_*),
 * never from the `<inst>:<n>` link alone: Ganeti leaves the links of removed disks behind.
 */
export function disksToAdd(env: HookEnvironment, input: HotplugInput | undefined, paths: NodePaths): DiskSpec[] | NoChange {
  const name = env.pre.name;
  if (input?.disk) {
    const disk = input.disk;
    const listed = env.post?.disks.find((d) => d.uuid === disk.uuid);
    const index = jsonDiskIndex(input, listed?.index);
    const path = diskPathOf(disk, listed);
    // A link the caller names explicitly is its word for the path; Ganeti's by-index link is not.
    if (!path && !input.link && disk.params?.access !== "userspace" && PATH_VARIABLES[disk.dev_type]) {
      throw new InputError(
        "INVALID_JSON",
        `stdin at $.disk.logical_id: required for dev_type ${disk.dev_type} (the disk's path; the link ${diskLink(paths, name, index)} may be stale)`,
      );
    }
    return [specFromEntry([disk, input.link ?? diskLink(paths, name, index), input.uri ?? null], index, path)];
  }
  const diff = envDiff(env, "add");
  if ("none" in diff) return diff;
  return diff.map((d) => {
    if (!d.dataPath && PATH_VARIABLES[d.devType]) {
      throw new InputError(
        "INVALID_ENV",
        `${pathVariables("GANETI_POST_INSTANCE_", d)}: required for dev_type ${d.devType} (the disk's path; the link may be stale)`,
      );
    }
    return specFromEnv(d, diskLink(paths, name, d.index), d.dataPath);
  });
}

export interface Removal {
  uuid: string;
  index: number;
  id: string;
}

/** The runtime entry of a disk, by uuid. */
export const entryOf = (runtime: RuntimeDocument | undefined, uuid: string) => runtime?.[3].find((e) => e[0].uuid === uuid);

/** The disks disk-remove detaches; the device id comes from the runtime entry when there is one. */
export function disksToRemove(
  env: HookEnvironment,
  input: HotplugInput | undefined,
  runtime: RuntimeDocument | undefined,
): Removal[] | NoChange {
  const idOf = (uuid: string) => deviceIdOf(uuid, entryOf(runtime, uuid)?.[0].hvinfo);
  if (input?.disk) {
    const uuid = input.disk.uuid;
    const index = jsonDiskIndex(input, env.pre.disks.find((d) => d.uuid === uuid)?.index);
    return [{ uuid, index, id: idOf(uuid) }];
  }
  const diff = envDiff(env, "remove");
  return "none" in diff ? diff : diff.map((d) => ({ uuid: d.uuid, index: d.index, id: idOf(d.uuid) }));
}

/** A JSON request's disk index: its `$.index`, else the index the environment lists the disk at. */
export function jsonDiskIndex(input: { index?: number }, listed: number | undefined): number {
  const index = input.index ?? listed;
  if (index === undefined)
    throw new InputError("INVALID_JSON", "stdin at $.index: required when the environment does not list the disk");
  return index;
}

export interface Growth {
  index: number;
  uuid: string;
  /** Where the disk's data is, whose size QEMU is told. */
  path: string;
}

/**
 * The disk disk-grow tells QEMU about: the JSON payload's, else GANETI_DISK of the disk-grow hook's
 * post phase. Its path is the disk's own (as disk-add takes it); Ganeti's link only where nothing
 * else can tell (kernelspace rbd, ext).
 */
export function diskToGrow(env: HookEnvironment, input: HotplugInput | undefined, paths: NodePaths): Growth | NoChange {
  const name = env.pre.name;
  const view = env.post;
  if (input?.disk) {
    const disk = input.disk;
    const listed = view?.disks.find((d) => d.uuid === disk.uuid);
    const index = jsonDiskIndex(input, listed?.index);
    return { index, uuid: disk.uuid, path: diskPathOf(disk, listed) ?? input.link ?? diskLink(paths, name, index) };
  }
  if (!view) return { none: "the environment names no grown disk (Ganeti's disk-grow hook has it in the post phase)" };
  if (env.disk === undefined) throw new InputError("INVALID_ENV", "GANETI_DISK: required in the disk-grow hook's post phase");
  const disk = view.disks[env.disk];
  if (!disk) {
    throw new InputError(
      "INVALID_ENV",
      `GANETI_DISK: disk ${env.disk} is not in the environment (GANETI_POST_INSTANCE_DISK_COUNT=${view.disks.length})`,
    );
  }
  return { index: disk.index, uuid: disk.uuid, path: disk.dataPath ?? diskLink(paths, name, disk.index) };
}

/** The hvparams of Ganeti's CD-ROM drives, by drive. */
export const CDROM_DRIVES = [
  ["cdrom_image_path", 1],
  ["cdrom2_image_path", 2],
] as const;

export interface MediumChange {
  key: (typeof CDROM_DRIVES)[number][0];
  drive: 1 | 2;
  /** The new image: a path, an HTTP(S) URL, or "" to eject. */
  image: string;
}

/** The CD-ROM images instance-modify changed: the pre view has the old hvparams, the post view the new. */
export function mediumChanges(env: HookEnvironment): MediumChange[] | NoChange {
  const post = env.post;
  if (!post) return { none: "the environment names no change (Ganeti exports it in the post phase only)" };
  const changes = CDROM_DRIVES.filter(([k]) => (env.pre.hv[k] ?? "") !== (post.hv[k] ?? ""));
  if (changes.length === 0) return { none: "no CD-ROM image changed" };
  return changes.map(([key, drive]) => ({ key, drive, image: post.hv[key] ?? "" }));
}
