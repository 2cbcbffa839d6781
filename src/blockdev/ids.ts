import { InputError } from "../errors.js";

/** QEMU keeps node names in a 32-byte buffer and wants a letter first (block.c). */
export const NODE_NAME_RE = /^[A-Za-z][A-Za-z0-9._-]{0,30}$/;

/**
 * Ganeti's device id, `disk-` + the first three groups of the uuid. Ganeti also uses it as the
 * node name, and so do we, so that runtime files and Ganeti's own hot-remove keep working.
 */
export function diskDeviceId(uuid: string): string {
  return `disk-${uuid.split("-").slice(0, 3).join("-")}`;
}

/** Whether a name is one diskDeviceId makes (what reconcile may delete when no device uses it). */
export const isDiskDeviceId = (name: string): boolean => /^disk-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}$/.test(name);

/**
 * The device id (= node name) of a disk: the id recorded in its hvinfo wins, so that a restart,
 * a migration target or a hot-remove finds the device an earlier start or Ganeti itself created.
 */
export function deviceIdOf(uuid: string, hvinfo: { id: string } | undefined): string {
  return hvinfo?.id ?? diskDeviceId(uuid);
}

/** The protocol child of a format node. */
export function fileNodeName(nodeName: string): string {
  return `${nodeName}-file`;
}

export function checkNodeName(name: string): string {
  if (!NODE_NAME_RE.test(name)) {
    throw new InputError(
      "BAD_NODE_NAME",
      `node name '${name}' is not a valid QEMU node name (letter first, at most 31 characters)`,
    );
  }
  return name;
}

/**
 * Ganeti's CD-ROM drive n (1 or 2, its cdrom_image_path or cdrom2_image_path): the node and device
 * id it has on every road (instance-start, the launcher, cdrom-change).
 */
export const cdromId = <N extends number>(drive: N) => `cdrom${drive}` as `cdrom${N}`;
/** The floppy's node and device id, and the id of the floppy controller a q35 board is given. */
export const FLOPPY_ID = "floppy1";
export const FDC_ID = "fdc0";
