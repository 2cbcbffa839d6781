import { InputError } from "../errors.js";

/**
 * Per-disk I/O limits, as an operator sets them in Ganeti's instance tags (Ganeti allows only
 * `[\w.+*\/:@-]` in a tag, so no `=`):
 *   disk-qos:disk<N>:<knob>:<value>   limits Ganeti's disk N;
 *   disk-qos:all:<knob>:<value>       one throttle group that all the instance's disks share.
 * Knobs are QEMU's block_set_io_throttle fields with `-` for `_`, each also with `-max` (its burst).
 * Pure: the policy, the QMP arguments it becomes, and QEMU's answer read back.
 *
 * A disk is in one throttle group at most (QEMU's BlockBackend holds one throttle config), so a disk
 * limit and an `all` limit on the same instance are refused rather than chained: chaining needs a
 * `throttle` filter node above each disk, which changes the node graph Ganeti 3.1's own hot-remove
 * and the runtime files name.
 */

export const QOS_TAG_PREFIX = "disk-qos:";

/** The rates QEMU throttles, by QMP field. */
const RATES = ["bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"] as const;
export type ThrottleField = (typeof RATES)[number] | `${(typeof RATES)[number]}_max`;
export const THROTTLE_FIELDS: readonly ThrottleField[] = [...RATES, ...RATES.map((r) => `${r}_max` as const)];

/** Limits by QMP field; a field not set is not limited (QEMU's 0). */
export type Limits = Partial<Record<ThrottleField, number>>;

export interface QosPolicy {
  /** Ganeti disk index → its own limits. */
  disks: ReadonlyMap<number, Limits>;
  /** The limits all disks share, one group. */
  all?: Limits;
}

/** The throttle group `disk-qos:all` puts every disk in (groups are per QEMU process). */
export const ALL_GROUP = "disk-qos-all";
/** QEMU's THROTTLE_VALUE_MAX. */
const VALUE_MAX = 1e15;
const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

const knobField = (knob: string): ThrottleField | undefined => {
  const field = knob.replaceAll("-", "_");
  return (THROTTLE_FIELDS as readonly string[]).includes(field) ? (field as ThrottleField) : undefined;
};

const bad = (tag: string, why: string) => new InputError("BAD_QOS_TAG", `instance tag '${tag}': ${why}`);

function tagValue(tag: string, field: ThrottleField, text: string): number {
  const m = field.startsWith("bps") ? /^([0-9]+)([KMG]?)$/.exec(text) : /^([0-9]+)()$/.exec(text);
  if (!m) {
    throw bad(
      tag,
      field.startsWith("bps")
        ? "the value must be a positive integer, optionally ending in K, M or G (KiB/s, MiB/s, GiB/s)"
        : "the value must be a positive integer (operations per second)",
    );
  }
  const n = Number(m[1]) * (UNITS[m[2] as string] as number);
  if (n <= 0 || n > VALUE_MAX) throw bad(tag, `the value must be from 1 to ${VALUE_MAX}`);
  return n;
}

/** QEMU's own rules (throttle_is_valid), checked here so that a tag, not QMP, is named. */
function checkLimits(limits: Limits, tagOf: (f: ThrottleField) => string): void {
  for (const kind of ["bps", "iops"] as const) {
    const total = limits[kind] ?? limits[`${kind}_max`];
    const split = [`${kind}_rd`, `${kind}_wr`, `${kind}_rd_max`, `${kind}_wr_max`] as const;
    const parts = split.find((f) => limits[f] !== undefined);
    if (total !== undefined && parts) {
      const first = limits[kind] !== undefined ? kind : (`${kind}_max` as const);
      throw bad(tagOf(parts), `a total ${kind} limit (${tagOf(first)}) and a read/write one cannot both be set`);
    }
  }
  for (const r of RATES) {
    const max = limits[`${r}_max`];
    if (max === undefined) continue;
    const avg = limits[r];
    if (avg === undefined) throw bad(tagOf(`${r}_max`), `a burst needs its rate (${r.replaceAll("_", "-")}) set too`);
    if (max < avg) throw bad(tagOf(`${r}_max`), `the burst is lower than the rate (${avg})`);
  }
}

/**
 * The policy in an instance's tags; other tags are ignored. A malformed `disk-qos:` tag, or two
 * tags that set the same knob, or limits QEMU would refuse: one InputError naming the tag.
 */
export function qosPolicy(tags: readonly string[]): QosPolicy {
  const disks = new Map<number, Limits>();
  const tagsOf = new Map<string, Map<ThrottleField, string>>();
  let all: Limits | undefined;
  for (const tag of tags) {
    if (!tag.startsWith(QOS_TAG_PREFIX)) continue;
    const parts = tag.slice(QOS_TAG_PREFIX.length).split(":");
    if (parts.length !== 3) throw bad(tag, "expected disk-qos:disk<N>|all:<knob>:<value>");
    const [target, knob, value] = parts as [string, string, string];
    const disk = /^disk(0|[1-9][0-9]?)$/.exec(target);
    if (!disk && target !== "all") throw bad(tag, `'${target}' is neither disk<N> (Ganeti's disk index) nor all`);
    const field = knobField(knob);
    if (!field) {
      throw bad(tag, `unknown knob '${knob}' (known: ${THROTTLE_FIELDS.map((f) => f.replaceAll("_", "-")).join(", ")})`);
    }
    const n = tagValue(tag, field, value);
    let limits: Limits;
    if (disk) {
      const index = Number(disk[1]);
      limits = disks.get(index) ?? {};
      disks.set(index, limits);
    } else {
      all ??= {};
      limits = all;
    }
    const seen = tagsOf.get(target) ?? new Map<ThrottleField, string>();
    tagsOf.set(target, seen);
    const twice = seen.get(field);
    if (twice !== undefined) throw bad(tag, `sets ${knob} again (also '${twice}'); remove one of them`);
    seen.set(field, tag);
    limits[field] = n;
  }
  for (const [target, seen] of tagsOf) {
    const limits = target === "all" ? all : disks.get(Number(target.slice(4)));
    if (limits) checkLimits(limits, (f) => seen.get(f) ?? f);
  }
  if (all && disks.size) {
    const [first] = tagsOf.get(`disk${[...disks.keys()][0]}`)?.values() ?? [];
    const [group] = tagsOf.get("all")?.values() ?? [];
    throw bad(
      first ?? "",
      `a disk limit and a disk-qos:all limit ('${group}') cannot both be set: a disk is in one throttle group (give the limit to all disks, or to each)`,
    );
  }
  return all ? { disks, all } : { disks };
}

/** The `disk-qos:` tags among an instance's tags (GANETI_INSTANCE_TAGS is space-separated). */
export const qosTags = (tags: readonly string[]): string[] => tags.filter((t) => t.startsWith(QOS_TAG_PREFIX));

/** What QEMU is to enforce on one disk's device: its limits, in which group. Empty limits: none. */
export interface ThrottleTarget {
  /** The disk's qdev id. */
  id: string;
  /**
   * What QMP names the device's BlockBackend by, where it is not the id: virtio-blk's belongs to
   * its backend, `/machine/peripheral/<id>/virtio-backend` (query-block's `qdev`).
   */
  qdev?: string;
  index: number;
  limits: Limits;
  group: string;
}

/**
 * Every listed disk's target: its own limits, the shared group's, or none (which clears limits an
 * earlier policy set).
 */
export function throttleTargets(policy: QosPolicy, disks: readonly { index: number; id: string }[]): ThrottleTarget[] {
  return disks.map(({ index, id }) =>
    policy.all
      ? { id, index, limits: policy.all, group: ALL_GROUP }
      : { id, index, limits: policy.disks.get(index) ?? {}, group: id },
  );
}

/** The QOM path of a device's BlockBackend, by the device's driver (see ThrottleTarget.qdev). */
export const backendPath = (id: string, driver: string): string =>
  driver.startsWith("virtio-blk") ? `/machine/peripheral/${id}/virtio-backend` : id;

/** block_set_io_throttle's arguments: the six rates are required (0 = none). */
export function throttleArguments(t: ThrottleTarget): Record<string, unknown> {
  const args: Record<string, unknown> = { id: t.qdev ?? t.id };
  for (const r of RATES) args[r] = t.limits[r] ?? 0;
  for (const r of RATES) if (t.limits[`${r}_max`] !== undefined) args[`${r}_max`] = t.limits[`${r}_max`];
  if (hasLimits(t.limits)) args["group"] = t.group;
  return args;
}

export const hasLimits = (l: Limits): boolean => Object.values(l).some((v) => v !== undefined && v > 0);

/**
 * The limits QEMU reports for one device (query-block's `inserted`): every rate and burst it
 * enforces. QEMU reports a burst only where one was set (its default burst is not reported).
 */
export function limitsOf(inserted: Record<string, unknown>): Limits {
  const out: Limits = {};
  for (const f of THROTTLE_FIELDS) {
    const v = inserted[f];
    if (typeof v === "number" && v > 0) out[f] = v;
  }
  return out;
}

export const sameLimits = (a: Limits, b: Limits): boolean => THROTTLE_FIELDS.every((f) => (a[f] ?? 0) === (b[f] ?? 0));

/** `iops 500, bps 200M` (as tags write them), or `none`. */
export function describeLimits(l: Limits): string {
  const parts = THROTTLE_FIELDS.flatMap((f) => {
    const v = l[f];
    if (!v) return [];
    const unit = f.startsWith("bps") ? (["G", "M", "K"] as const).find((u) => v % (UNITS[u] as number) === 0) : undefined;
    return [`${f.replaceAll("_", "-")} ${unit ? `${v / (UNITS[unit] as number)}${unit}` : v}`];
  });
  return parts.length ? parts.join(", ") : "none";
}
