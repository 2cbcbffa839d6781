import type { BlockNode } from "../blockdev/model.js";
import { HotplugError } from "../errors.js";
import type { QmpClient } from "../qmp/client.js";
import { QmpCommandError, reason } from "../qmp/errors.js";
import { type BlockEntry, blockOf, peripheralPath, queryBlock } from "./live.js";
import { onOpenConnection } from "./session.js";

export type MediumResult = "changed" | "ejected" | "no tray" | "no drive";

/** A CD-ROM drive as QMP addresses it: its id, or its QOM path when it has none. */
interface CdromDrive {
  target: string;
  type: string;
  /** Its entry in query-block, found again after each step. */
  find: (blocks: readonly BlockEntry[]) => BlockEntry | undefined;
}

const notFound = (e: unknown) => e instanceof QmpCommandError && e.qmpClass === "DeviceNotFound";

/** Which CD-ROMs the instance was started with (Ganeti 3.1 creates a drive only for a set image path). */
export interface StartedCdroms {
  cdrom1: boolean;
  cdrom2: boolean;
}

/**
 * The drive behind CD-ROM `id` (cdrom1, cdrom2). The launcher and instance-start give the device
 * that id. Ganeti 3.1 leaves it anonymous (`-device ide-cd,drive=cdrom1`): it is found by the node
 * in it (cdrom<n>, or cdrom<n>-<hash> that this hook inserted since) and addressed by QOM path.
 * An anonymous drive that was emptied holds no node: it is taken only when nothing else can be it
 * (the one empty anonymous CD-ROM drive, the other CD-ROM absent or holding its own node), since a
 * wrong guess would put a medium in the other drive. Only QEMU's DeviceNotFound means "no such
 * device"; any other error is a failure to look.
 */
async function findCdrom(qmp: QmpClient, id: "cdrom1" | "cdrom2", started: StartedCdroms): Promise<CdromDrive | undefined> {
  const typeAt = (path: string) => qmp.execute<string>("qom-get", { path, property: "type" });
  try {
    return { target: id, type: await typeAt(peripheralPath(id)), find: (b) => blockOf(b, id) };
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  const holds = (b: BlockEntry, cd: string) => {
    const node = b.inserted?.["node-name"];
    return node === cd || node?.startsWith(`${cd}-`) === true;
  };
  const blocks = (await queryBlock(qmp)).filter((b) => b.qdev.startsWith("/machine/peripheral-anon/"));
  const other = id === "cdrom1" ? "cdrom2" : "cdrom1";
  let anon = blocks.find((b) => holds(b, id));
  if (!anon && started[id]) {
    const emptyCds: BlockEntry[] = [];
    for (const b of blocks.filter((x) => !x.inserted)) if (["ide-cd", "scsi-cd"].includes(await typeAt(b.qdev))) emptyCds.push(b);
    if (emptyCds.length === 1 && (!started[other] || blocks.some((b) => holds(b, other)))) anon = emptyCds[0];
  }
  if (!anon) return undefined;
  const qdev = anon.qdev;
  const path = qdev.replace(/\/virtio-backend$/, "");
  return { target: path, type: await typeAt(path), find: (b) => b.find((x) => x.qdev === qdev) };
}

/** What the drive holds now, as QEMU says: for messages that tell what is left. */
async function nowInserted(qmp: QmpClient, drive: CdromDrive): Promise<string> {
  try {
    const node = drive.find(await queryBlock(qmp))?.inserted?.["node-name"];
    return node ? `the drive holds ${node}` : "the drive is empty";
  } catch (e) {
    return `what the drive holds is unknown (${reason(e)})`;
  }
}

/**
 * Changes (or, with no `next`, ejects) the medium of a CD-ROM drive, libvirt's way with the blockdev
 * API: the new medium's node first (a file that cannot be opened changes nothing), then
 * blockdev-open-tray (forced), blockdev-remove-medium, blockdev-insert-medium, blockdev-close-tray,
 * and the old medium's node deleted last. A failure after the tray opened puts the old medium back
 * (over a new connection, from `reconnect`, when the first one dropped), and the message says what
 * QEMU then has. A virtio-blk CD-ROM has no tray: nothing is touched, and the caller says so.
 */
export async function changeMedium(
  qmp: QmpClient,
  id: "cdrom1" | "cdrom2",
  next: BlockNode | undefined,
  warn: (m: string) => void,
  started: StartedCdroms,
  reconnect?: () => Promise<QmpClient>,
): Promise<MediumResult> {
  const drive = await findCdrom(qmp, id, started);
  // Started without that CD-ROM (Ganeti 3.1 creates no drive for an empty image path): nothing to change now.
  if (!drive && !started[id]) return "no drive";
  if (!drive) {
    throw new HotplugError(
      "NO_CDROM_DEVICE",
      `the instance has no device ${id} and no drive holding a node ${id}; the new image takes effect at its next start`,
    );
  }
  if (drive.type === "virtio-blk-pci") return "no tray";
  const old = drive.find(await queryBlock(qmp))?.inserted?.["node-name"];
  if (next) await openMedium(qmp, next);
  try {
    await swapMedium(qmp, drive, old, next);
  } catch (e) {
    // A dropped connection is no reason to leave the tray open: QEMU still runs, and takes another.
    throw await onOpenConnection(qmp, reconnect, (q) => putBack(q, id, drive, old, next, e));
  }
  if (old) {
    await qmp.execute("blockdev-del", { "node-name": old }).catch((e: unknown) => {
      warn(`the old medium's node ${old} could not be deleted (${reason(e)}); it stays until the instance restarts`);
    });
  }
  return next ? "changed" : "ejected";
}

/** The new medium's node, first: a medium QEMU cannot open changes nothing. */
async function openMedium(qmp: QmpClient, next: BlockNode): Promise<void> {
  try {
    await qmp.execute("blockdev-add", next.props);
  } catch (e) {
    throw new HotplugError("MEDIUM_OPEN_FAILED", `the new medium cannot be opened (${reason(e)}); the old medium stays inserted`);
  }
}

/** The tray steps: open (forced), the old medium out, the new one in, close. */
async function swapMedium(qmp: QmpClient, drive: CdromDrive, old: string | undefined, next: BlockNode | undefined) {
  const target = { id: drive.target };
  await qmp.execute("blockdev-open-tray", { ...target, force: true });
  if (old) await qmp.execute("blockdev-remove-medium", target);
  if (next) await qmp.execute("blockdev-insert-medium", { ...target, "node-name": next.nodeName });
  await qmp.execute("blockdev-close-tray", target);
}

/**
 * After a failed tray step: the old medium back in, the tray closed, the new node forgotten, each
 * best effort; then the error to report, saying what QEMU has now.
 */
async function putBack(
  q: QmpClient,
  id: string,
  drive: CdromDrive,
  old: string | undefined,
  next: BlockNode | undefined,
  e: unknown,
): Promise<HotplugError> {
  const target = { id: drive.target };
  const inNow = drive.find(await queryBlock(q).catch(() => []))?.inserted?.["node-name"];
  if (inNow !== old && old) {
    if (inNow) await q.execute("blockdev-remove-medium", target).catch(() => undefined);
    await q.execute("blockdev-insert-medium", { ...target, "node-name": old }).catch(() => undefined);
  }
  await q.execute("blockdev-close-tray", target).catch(() => undefined);
  if (next) await q.execute("blockdev-del", { "node-name": next.nodeName }).catch(() => undefined);
  return new HotplugError(
    "MEDIUM_CHANGE_FAILED",
    `changing the medium of ${id} failed (${reason(e)}); ${await nowInserted(q, drive)}`,
  );
}
