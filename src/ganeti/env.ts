import { InputError } from "../errors.js";
import type { DevType, DiskMode, HvParams } from "../generated/common.js";
import { validateHookEnv, validateInstanceEnv } from "../generated/validators.js";
import { check } from "../host/validate.js";
import { dataPath, envLogicalId } from "./disk-path.js";
import { normalUuid } from "./uuid.js";

export type Env = Readonly<Record<string, string | undefined>>;

/** One disk as the hook environment describes it (BuildDiskEnv). */
export interface EnvDisk {
  index: number;
  uuid: string;
  devType: DevType;
  mode: DiskMode;
  name?: string;
  size?: number;
  /** DISKn_DRIVER / DISKn_ID: e.g. loop + the file path for file disks (the part Ganeti's dict carries). */
  logicalId?: [string, string];
  /** Where the disk's data is, from the logical_id fields Ganeti exports (disk-path.ts). */
  dataPath?: string;
}

/** The instance as one side (GANETI_ or GANETI_POST_) of the environment shows it. */
export interface InstanceView {
  name: string;
  hv: HvParams;
  disks: EnvDisk[];
  /** INSTANCE_TAGS: where operators put per-instance policy (the disk-qos: tags). */
  tags: string[];
}

export interface HookEnvironment {
  /** GANETI_DISK: the disk index an operation names (disk-grow). */
  disk?: number;
  /** GANETI_INSTANCE_*: the state before the operation (in both phases). */
  pre: InstanceView;
  /** GANETI_POST_INSTANCE_*: the state after it (post phase only). */
  post?: InstanceView;
}

const HV_STRING_KEYS = [
  "disk_type",
  "cdrom_disk_type",
  "disk_cache",
  "disk_aio",
  "disk_discard",
  "scsi_controller_type",
  "boot_order",
  "cdrom_image_path",
  "cdrom2_image_path",
  "floppy_image_path",
  "kernel_path",
  "kvm_path",
  "machine_version",
] as const satisfies readonly (keyof HvParams)[];

const POST = "GANETI_POST_INSTANCE_";
const PRE = "GANETI_INSTANCE_";

/** The instance variables we read (the schema's names); Ganeti exports ~100, most of no concern here. */
const READ = ["NAME", "PRIMARY", "DISK_COUNT", "TAGS", ...[...HV_STRING_KEYS, "kvm_pci_reservations"].map((k) => `HV_${k}`)];
const DISK_READ = ["UUID", "DEV_TYPE", "MODE", "SIZE", "NAME", "DRIVER", "ID", "VG", "PMINOR"];

/**
 * Copies only what we read, by name: keeps ajv away from variables we ignore, and asking for ~40
 * names costs less than listing process.env (a C++ call per variable). Disks past DISK_COUNT are
 * not read, so not checked; the schema rejects a count over 16, and the loop never runs past it.
 */
function pick(env: Env, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  const copy = (rest: string) => {
    const v = env[prefix + rest];
    if (v !== undefined) out[PRE + rest] = v;
  };
  for (const rest of READ) copy(rest);
  const count = Math.min(Number(out[`${PRE}DISK_COUNT`]) || 0, 16);
  for (let i = 0; i < count; i++) for (const rest of DISK_READ) copy(`DISK${i}_${rest}`);
  return out;
}

function view(vars: Record<string, string>, prefix: string): InstanceView {
  const name = (k: string) => prefix + k.slice(PRE.length);
  const hv: HvParams = {};
  const hvVar = (k: string) => vars[`${PRE}HV_${k}`];
  for (const k of HV_STRING_KEYS) {
    const v = hvVar(k);
    if (v !== undefined) (hv as Record<string, string>)[k] = v;
  }
  const reservations = hvVar("kvm_pci_reservations");
  if (reservations !== undefined) hv.kvm_pci_reservations = Number(reservations);

  const count = Number(vars[`${PRE}DISK_COUNT`] ?? "0");
  const disks: EnvDisk[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const get = (k: string) => vars[`${PRE}DISK${i}_${k}`];
    const required = (k: string) => {
      const v = get(k);
      if (!v)
        throw new InputError(
          "INVALID_ENV",
          `${name(`${PRE}DISK${i}_${k}`)}: required but missing (${name(`${PRE}DISK_COUNT`)}=${count})`,
        );
      return v;
    };
    const uuid = normalUuid(required("UUID"));
    const earlier = seen.get(uuid);
    if (earlier !== undefined) {
      throw new InputError("INVALID_ENV", `${name(`${PRE}DISK${i}_UUID`)}: same uuid as disk ${earlier} (${uuid})`);
    }
    seen.set(uuid, i);
    const disk: EnvDisk = { index: i, uuid, devType: required("DEV_TYPE") as DevType, mode: (get("MODE") ?? "rw") as DiskMode };
    const diskName = get("NAME");
    if (diskName) disk.name = diskName;
    const size = get("SIZE");
    if (size) disk.size = Number(size);
    const driver = get("DRIVER");
    const id = get("ID");
    if (driver && id) disk.logicalId = [driver, id];
    const path = dataPath(disk.devType, envLogicalId(disk.devType, get));
    if (path) disk.dataPath = path;
    disks.push(disk);
  }
  const tags = (vars[`${PRE}TAGS`] ?? "").split(" ").filter(Boolean);
  return { name: vars[`${PRE}NAME`] as string, hv, disks, tags };
}

/** The paths of every disk either view lists: what a link of this instance may name (disk-link.ts). */
export const instanceDiskPaths = (env: HookEnvironment): string[] =>
  [...env.pre.disks, ...(env.post?.disks ?? [])].flatMap((d) => (d.dataPath ? [d.dataPath] : []));

/** Validates the environment against schemas/hook-env.schema.json and reads both of its views. */
export function readHookEnv(env: Env): HookEnvironment {
  const pre = pick(env, PRE);
  const base: Record<string, string> = { ...pre };
  for (const k of ["GANETI_HOOKS_VERSION", "GANETI_HOOKS_PHASE", "GANETI_HOOKS_PATH", "GANETI_OP_CODE", "GANETI_DISK"]) {
    const v = env[k];
    if (v !== undefined) base[k] = v;
  }
  // Checked for what Ganeti says of the hook itself (phase, version), though only the instance is used.
  check(validateHookEnv, base, "INVALID_ENV", (p) => p.slice(1));
  // hook-env.schema.json includes instance-env.schema.json, so the pre view is checked already.
  const out: HookEnvironment = { pre: view(pre, PRE) };
  if (base["GANETI_DISK"] !== undefined) out.disk = Number(base["GANETI_DISK"]);
  if (env[`${POST}NAME`] !== undefined) {
    const post = pick(env, POST);
    check(validateInstanceEnv, post, "INVALID_ENV", (p) => POST + p.slice(1 + PRE.length));
    out.post = view(post, POST);
  }
  return out;
}
