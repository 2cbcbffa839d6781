import type { DiskAio } from "../generated/common.js";
import type { CacheSetting } from "./cache.js";
import { fileNodeName } from "./ids.js";
import type { BlockNode, Props } from "./model.js";
import { fileProtocol, hostDeviceProtocol, httpProtocol, uriProtocol } from "./protocols.js";

/** Where a node's data is: a local file or block device, a userspace storage URI, or an HTTP(S) URL. */
export type Location = { path: string; kind: "file" | "block" } | { uri: string } | { url: string };

/**
 * What one -blockdev tree is made of. The launcher (from Ganeti's -drive options) and
 * instance-start (from hvparams and disks) both describe their nodes so, and storageNode builds
 * every one of them.
 */
export interface NodeSpec {
  name: string;
  location: Location;
  cache: CacheSetting;
  /** Local paths only; omitted, QEMU's default (threads). */
  aio?: DiskAio | undefined;
  readOnly: boolean;
  /** Disks only: media (CD-ROMs, floppies) have none. */
  discard?: "ignore" | "unmap" | undefined;
}

/** The protocol node of a location: one builder per protocol (protocols.ts). */
function locationProtocol(location: Location, aio: DiskAio | undefined, where: string): Props {
  if ("url" in location) return httpProtocol(location.url);
  if ("uri" in location) return uriProtocol(location.uri, where);
  return location.kind === "block" ? hostDeviceProtocol(location.path, aio) : fileProtocol(location.path, aio);
}

/** A raw node over its location, with the options every node shares; `where` names it in errors. */
export function storageNode(spec: NodeSpec, where: string): BlockNode {
  return rawNode(
    spec.name,
    locationProtocol(spec.location, spec.aio, where),
    nodeOptions(spec.cache, spec.readOnly, spec.discard),
  );
}

/**
 * Options every node of one tree carries: QEMU reports the parent's cache, but opens the file with
 * the child's. Media (CD-ROMs, floppies) have no discard.
 */
export function nodeOptions(cache: CacheSetting, readOnly: boolean, discard?: string): Props {
  const options: Props = { "read-only": readOnly, "auto-read-only": false };
  if (discard !== undefined) options["discard"] = discard;
  options["cache"] = { direct: cache.direct, "no-flush": cache.noFlush };
  return options;
}

/** A raw format node named `name` over its protocol child `<name>-file`, both with `options`. */
export function rawNode(name: string, protocol: Props, options: Props): BlockNode {
  return {
    nodeName: name,
    props: { driver: "raw", "node-name": name, ...options, file: { ...protocol, "node-name": fileNodeName(name), ...options } },
  };
}
