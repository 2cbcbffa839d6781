import { InputError } from "../errors.js";
import type { DiskAio } from "../generated/common.js";
import type { Props } from "./model.js";

/**
 * One builder per storage protocol, each returning the protocol node's own options (the caller
 * adds what every node shares: node-name, cache, read-only, discard). Style after libvirt's
 * qemu_block.c: the graph stays data until argv.ts serialises it once.
 */

/** Regular files: `file` (QEMU >= 6.0 refuses block devices here). */
export function fileProtocol(filename: string, aio?: DiskAio): Props {
  return aio ? { driver: "file", filename, aio } : { driver: "file", filename };
}

/** Block and character devices: `host_device` (refuses regular files). */
export function hostDeviceProtocol(filename: string, aio?: DiskAio): Props {
  return aio ? { driver: "host_device", filename, aio } : { driver: "host_device", filename };
}

/** An HTTP(S) URL rather than a local path (string tests: cheaper at start-up than a first regex). */
export const isHttpUrl = (image: string): boolean => {
  const scheme = image.slice(0, 8).toLowerCase();
  return scheme.startsWith("http://") || scheme === "https://";
};

/** Read-only images over HTTP(S), through QEMU's curl module (Debian: qemu-block-extra). */
export function httpProtocol(url: string): Props {
  return { driver: url.slice(0, 6).toLowerCase() === "https:" ? "https" : "http", url };
}

/** `rbd:<pool>/<image>[:id=<user>]`, Ganeti's userspace RBD URI. */
function rbdProtocol(uri: string, where: string): Props {
  const m = /^rbd:([^/:@\s]+)\/([^:@\s]+)((?::[^:\s]+)*)$/.exec(uri);
  if (!m) throw new InputError("BAD_URI", `${where}: '${uri}' is not rbd:<pool>/<image>[:id=<user>]`);
  const props: Props = { driver: "rbd", pool: m[1] ?? "", image: m[2] ?? "" };
  for (const opt of (m[3] ?? "").split(":").filter(Boolean)) {
    const [key, value] = opt.split("=", 2);
    if (key !== "id" || !value) {
      throw new InputError("BAD_URI", `${where}: rbd option '${opt}' is not supported (only id=<user>)`);
    }
    props["user"] = value;
  }
  return props;
}

function parseUrl(uri: string, where: string): URL {
  try {
    return new URL(uri);
  } catch {
    throw new InputError("BAD_URI", `${where}: '${uri}' is not a valid URI`);
  }
}

/** URL hosts keep IPv6 brackets; QEMU wants the bare address. */
function hostOf(url: URL, where: string): string {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new InputError("BAD_URI", `${where}: '${url.href}' names no host`);
  return host;
}

/** `gluster[+tcp]://host[:port]/volume/path`; QEMU wants `server` as a list. */
function glusterProtocol(uri: string, where: string): Props {
  const url = parseUrl(uri, where);
  const [, volume, ...rest] = decodeURIComponent(url.pathname).split("/");
  if (!volume || rest.length === 0 || !rest.join("/")) {
    throw new InputError("BAD_URI", `${where}: '${uri}' is not gluster://<host>[:<port>]/<volume>/<path>`);
  }
  return {
    driver: "gluster",
    volume,
    path: rest.join("/"),
    server: [{ type: "inet", host: hostOf(url, where), port: url.port || "24007" }],
  };
}

/** `nbd://host[:port][/export]` or `nbd+unix:///export?socket=/path`. */
function nbdProtocol(uri: string, where: string): Props {
  const url = parseUrl(uri, where);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  const props: Props = { driver: "nbd" };
  if (url.protocol === "nbd+unix:") {
    const socket = url.searchParams.get("socket");
    if (!socket?.startsWith("/")) {
      throw new InputError("BAD_URI", `${where}: '${uri}' needs ?socket=/absolute/path`);
    }
    props["server"] = { type: "unix", path: socket };
  } else {
    props["server"] = { type: "inet", host: hostOf(url, where), port: url.port || "10809" };
  }
  if (name) props["export"] = name;
  return props;
}

/** `iscsi://host[:port]/<target-iqn>/<lun>`; CHAP would need a secret object, not a URI. */
function iscsiProtocol(uri: string, where: string): Props {
  const url = parseUrl(uri, where);
  if (url.password) {
    throw new InputError("BAD_URI", `${where}: iSCSI passwords in the URI are not supported (they would show in ps)`);
  }
  if (url.username) {
    // QEMU refuses a CHAP user without a password ("CHAP username specified but no password").
    throw new InputError(
      "BAD_URI",
      `${where}: iSCSI CHAP logins are not supported (QEMU needs a password secret); use a target without CHAP`,
    );
  }
  const parts = decodeURIComponent(url.pathname).split("/").filter(Boolean);
  const lun = Number(parts[1] ?? "0");
  if (parts.length < 1 || parts.length > 2 || !Number.isInteger(lun) || lun < 0) {
    throw new InputError("BAD_URI", `${where}: '${uri}' is not iscsi://<host>[:<port>]/<target>/<lun>`);
  }
  const host = hostOf(url, where);
  const props: Props = {
    driver: "iscsi",
    transport: "tcp",
    portal: `${host.includes(":") ? `[${host}]` : host}:${url.port || "3260"}`,
    target: parts[0] ?? "",
    lun,
  };
  return props;
}

const URI_SCHEMES: ReadonlyArray<[RegExp, (uri: string, where: string) => Props]> = [
  [/^rbd:/, rbdProtocol],
  [/^gluster(\+tcp)?:\/\//, glusterProtocol],
  [/^nbd(\+tcp|\+unix)?:\/\//, nbdProtocol],
  [/^iscsi:\/\//, iscsiProtocol],
];

/** Whether a path is a userspace storage URI this module builds a node for (one list, for all callers). */
export const isStorageUri = (path: string): boolean => URI_SCHEMES.some(([re]) => re.test(path));

/** The protocol node for a userspace storage URI. */
export function uriProtocol(uri: string, where: string): Props {
  for (const [re, build] of URI_SCHEMES) if (re.test(uri)) return build(uri, where);
  throw new InputError(
    "BAD_URI",
    `${where}: unsupported storage URI scheme in '${uri}' (allowed: rbd:, gluster://, nbd://, nbd+unix://, iscsi://)`,
  );
}

/**
 * Protocol drivers Debian builds as loadable modules (qemu-block-extra), each with its module's
 * name: `block-<name>.so`. A QEMU without the module refuses the node at start, in its own words;
 * Debian's QEMU 11.1 has no gluster module at all.
 */
const MODULE_OF_DRIVER: Readonly<Record<string, string>> = {
  http: "curl",
  https: "curl",
  ftp: "curl",
  ftps: "curl",
  gluster: "gluster",
  iscsi: "iscsi",
  nfs: "nfs",
  rbd: "rbd",
  ssh: "ssh",
};

/** The module a block driver needs, if it is one of those. */
export const blockModuleOf = (driver: string): string | undefined =>
  Object.hasOwn(MODULE_OF_DRIVER, driver) ? MODULE_OF_DRIVER[driver] : undefined;

/** Every `driver` of a -blockdev tree (the format node's and its children's). */
export function treeDrivers(props: Props): string[] {
  const out: string[] = [];
  const walk = (p: Props) => {
    if (typeof p["driver"] === "string") out.push(p["driver"]);
    for (const v of Object.values(p)) if (v && typeof v === "object" && !Array.isArray(v)) walk(v as Props);
  };
  walk(props);
  return out;
}
