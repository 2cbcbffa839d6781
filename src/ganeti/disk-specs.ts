import type { DiskSpec } from "../blockdev/model.js";
import type { GanetiDisk, RuntimeDiskEntry } from "../generated/common.js";
import { pathKind } from "../host/path-kind.js";
import type { EnvDisk } from "./env.js";

/**
 * A disk known only from the hook environment: Ganeti's dict rebuilt from BuildDiskEnv's fields.
 * `path`, when given, is what QEMU opens instead of the link.
 */
export function specFromEnv(d: EnvDisk, link: string, path?: string): DiskSpec {
  const ganeti: GanetiDisk & Record<string, unknown> = {
    uuid: d.uuid,
    dev_type: d.devType,
    mode: d.mode,
    iv_name: `disk/${d.index}`,
    params: {},
  };
  if (d.name !== undefined) ganeti.name = d.name;
  if (d.size !== undefined) ganeti.size = d.size;
  if (d.logicalId) ganeti["logical_id"] = d.logicalId;
  return withKind(
    {
      index: d.index,
      uuid: d.uuid,
      devType: d.devType,
      mode: d.mode,
      access: "kernelspace",
      link,
      uri: null,
      ganeti,
    },
    path,
  );
}

/** A disk from Ganeti's own serialisation: [Disk.ToDict(), link, uri]; `path` as for specFromEnv. */
export function specFromEntry([disk, link, uri]: RuntimeDiskEntry, index: number, path?: string): DiskSpec {
  const spec: DiskSpec = {
    index,
    uuid: disk.uuid,
    devType: disk.dev_type,
    mode: disk.mode ?? "rw",
    access: disk.params?.access ?? "kernelspace",
    link,
    uri,
    ganeti: disk,
  };
  if (disk.hvinfo) spec.hvinfo = disk.hvinfo;
  return withKind(spec, path);
}

function withKind(spec: DiskSpec, path: string | undefined): DiskSpec {
  if (spec.access === "kernelspace") {
    if (path !== undefined) spec.path = path;
    const kind = pathKind(path ?? spec.link);
    if (kind) spec.pathKind = kind;
  }
  return spec;
}
