import { dirname } from "node:path";
import { backendPath, hasLimits, type ThrottleTarget } from "../blockdev/qos.js";
import { parseOptString, splitOptions } from "../ganeti/kvm-argv.js";
import { readQosRecord, recordTargets } from "../qos/record.js";

/** What the launcher must do to a QEMU it starts before the guest runs: its I/O limits. */
export interface StartThrottles {
  /** The instance's QMP socket (Ganeti's `<instance>.qmp`). */
  qmp: string;
  pidfile: string | undefined;
  /** Whether QEMU daemonizes: only then does the launcher get control back before Ganeti does. */
  daemonizes: boolean;
  targets: ThrottleTarget[];
}

/** A `-qmp`/`-chardev` socket's path: `unix:PATH,server,...` or `unix:path=PATH`. */
const unixPath = (value: string): string | undefined => {
  if (!value.startsWith("unix:")) return undefined;
  const [first] = parseOptString(value.slice(5));
  return first?.[0] === "path" ? first[1] : first?.[0];
};

/** A -device's id and driver, in either syntax (JSON, as the plugin writes it on QEMU >= 7, or key=value). */
function deviceOf(value: string): [string, string] | undefined {
  let props: Record<string, unknown>;
  try {
    props = value.startsWith("{")
      ? (JSON.parse(value) as Record<string, unknown>)
      : Object.fromEntries(parseOptString(value, "driver"));
  } catch {
    return undefined;
  }
  return typeof props["id"] === "string" ? [props["id"], String(props["driver"])] : undefined;
}

/**
 * The limits the node's record holds for this start (written by the disk-qos hook from the
 * instance's tags), for the disks whose devices this command line creates. Undefined when there
 * are none, so that the launcher execs QEMU as it does without a policy.
 */
export function startThrottles(instance: string, argv: readonly string[]): StartThrottles | undefined {
  const opts = splitOptions(argv);
  const sockets = opts.flatMap((o) => (o.name === "qmp" && o.value ? [unixPath(o.value)] : [])).filter((p) => p !== undefined);
  const qmp = sockets.find((p) => p.endsWith(`/${instance}.qmp`)) ?? sockets[0];
  if (!qmp) return undefined;
  const record = readQosRecord(dirname(qmp), instance);
  if (!record) return undefined;
  const drivers = new Map<string, string>();
  for (const o of opts) {
    const d = o.name === "device" && o.value ? deviceOf(o.value) : undefined;
    if (d) drivers.set(...d);
  }
  const targets = recordTargets(record).targets.flatMap((t) => {
    const driver = drivers.get(t.id);
    return driver !== undefined && hasLimits(t.limits) ? [{ ...t, qdev: backendPath(t.id, driver) }] : [];
  });
  if (!targets.length) return undefined;
  return {
    qmp,
    pidfile: opts.find((o) => o.name === "pidfile")?.value,
    daemonizes: opts.some((o) => o.name === "daemonize"),
    targets,
  };
}
