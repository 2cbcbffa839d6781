import type { CacheSetting } from "./cache.js";
import { fileNodeName } from "./ids.js";
import type { BlockNode, Props } from "./model.js";

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
